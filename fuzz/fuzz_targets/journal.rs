//! Fuzzes the usage journal's reader with torn and corrupted files: whatever the bytes, reading
//! stops at the first frame that is not whole or does not unpack, never claims more bytes than
//! it was given, and hands out only records of whole frames, without panicking.
//!
//! Input: the first byte chooses the file format (even: `.rec2`, odd: `.rec3`); the rest is the
//! file.

#![no_main]

use edgegate::meter::journal::read_records;
use edgegate::meter::packed::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let format = if mode % 2 == 0 {
        Format::V2
    } else {
        Format::V3
    };
    let mut records = 0u64;
    let scan = read_records(&mut &file[..], format, u64::MAX, |_| {
        records += 1;
        Ok(())
    })
    .expect("reading from memory cannot fail");
    assert!(scan.consumed <= file.len() as u64);
    // Reading again up to where the first read stopped gives the same records.
    let mut again = 0u64;
    let prefix = &file[..scan.consumed as usize];
    let rescan = read_records(&mut &prefix[..], format, u64::MAX, |_| {
        again += 1;
        Ok(())
    })
    .expect("reading from memory cannot fail");
    assert_eq!(rescan.consumed, scan.consumed);
    assert_eq!(again, records);
});
