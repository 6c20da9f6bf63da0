//! Fuzzes the API's document readers: an arbitrary body, read as XML (what the API receives) or
//! JSON (what `config_file` and the CLI's `file://` arguments hold), decoded as each of the
//! API's configuration documents and validated. Whatever the input, reading answers (a document
//! or diagnostics) without panicking, and a document that decodes is encoded again and reads
//! back as the same document.
//!
//! Input: the first byte chooses the syntax (even: XML, odd: JSON); the rest is the body.

#![no_main]

use edgegate::model::{
    CachePolicyConfig, Diagnostics, DistributionConfig, Document, InvalidationBatch,
    KeyGroupConfig, OriginRequestPolicyConfig, PublicKeyConfig, Tree,
};
use libfuzzer_sys::fuzz_target;

/// Decodes `tree` as `T`, validates it, and checks that its encoding reads back as itself.
fn round_trip<T: Document + std::fmt::Debug>(tree: &Tree) {
    let mut d = Diagnostics::default();
    let Some(doc) = T::decode(tree, &mut d) else {
        return;
    };
    doc.validate(&mut d);
    let xml = doc.encode().to_xml(T::ROOT);
    let (_, again) = Tree::from_xml(xml.as_bytes()).expect("edgegate's own XML parses");
    let mut d2 = Diagnostics::default();
    let back = T::decode(&again, &mut d2);
    assert_eq!(
        back.as_ref(),
        Some(&doc),
        "{} does not read back:\n{xml}",
        T::ROOT
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let tree = if mode % 2 == 0 {
        match Tree::from_xml(body) {
            Ok((_, t)) => t,
            Err(_) => return,
        }
    } else {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        match Tree::from_json(&value) {
            Ok(t) => t,
            Err(_) => return,
        }
    };
    round_trip::<DistributionConfig>(&tree);
    round_trip::<CachePolicyConfig>(&tree);
    round_trip::<OriginRequestPolicyConfig>(&tree);
    round_trip::<PublicKeyConfig>(&tree);
    round_trip::<KeyGroupConfig>(&tree);
    round_trip::<InvalidationBatch>(&tree);
});
