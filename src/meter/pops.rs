//! Edge location → CloudFront billing region.
//!
//! CloudFront names its edge locations by the IATA code of a nearby airport plus a number
//! (`x-edge-location` such as `IAD89-C1`, `SEA19-C1`, `SOF50-P2`), and bills by the region of the
//! edge that served. [`billing_region`] reads the three-letter prefix and looks it up in a table
//! of the airport codes of the cities CloudFront publishes edge locations in, plus other major
//! airports of the same countries, so an edgegate `--pop` named after its city resolves too.
//! The region follows the country, as CloudFront's billing documentation groups them:
//!
//! - `US`: United States, and Mexico (CloudFront prices Mexico with the US and documents no
//!   prefix of its own; `US` is an assumption);
//! - `CA`: Canada;
//! - `EU`: Europe, Israel and Türkiye;
//! - `ZA`: South Africa, Kenya and Nigeria;
//! - `ME`: the Middle East (Bahrain, Oman, Qatar, Saudi Arabia, the UAE, Kuwait);
//! - `SA`: South America;
//! - `JP`: Japan;
//! - `AU`: Australia and New Zealand;
//! - `AP`: Hong Kong, Indonesia, Malaysia, the Philippines, Singapore, South Korea, Taiwan,
//!   Thailand and Vietnam;
//! - `IN`: India.
//!
//! Mainland China (Beijing, Shanghai, Shenzhen, Zhongwei) is served by a separate CloudFront
//! partition that is not billed in these regions; its codes, like any code not in the table,
//! give `None`.
//!
//! An edge's own `--pop` and `--billing-region` are tied together by [`default_pop`] (the code an
//! edge writes when `--pop` is left out, chosen so that it reads back as its region) and
//! [`check_pop`] (a `--pop` that reads back as another region is refused), so that
//! `usage report --from-bucket` bills every delivered line in the region of the edge that served
//! it, with CloudFront's log format unchanged.

use crate::config::BillingRegion;

use BillingRegion::{Ap, Au, Ca, Eu, In, Jp, Me, Sa, Us, Za};

/// IATA airport code → billing region, sorted by code (binary-searched).
const TABLE: &[(&str, BillingRegion)] = &[
    ("ADL", Au), // Adelaide
    ("AKL", Au), // Auckland
    ("AMD", In), // Ahmedabad
    ("AMS", Eu), // Amsterdam
    ("ANC", Us), // Anchorage
    ("ARN", Eu), // Stockholm
    ("ATH", Eu), // Athens
    ("ATL", Us), // Atlanta
    ("AUH", Me), // Abu Dhabi
    ("AUS", Us), // Austin
    ("BAH", Me), // Manama, Bahrain
    ("BCN", Eu), // Barcelona
    ("BER", Eu), // Berlin (Brandenburg)
    ("BKK", Ap), // Bangkok
    ("BLR", In), // Bengaluru
    ("BNA", Us), // Nashville
    ("BNE", Au), // Brisbane
    ("BOG", Sa), // Bogotá
    ("BOM", In), // Mumbai
    ("BOS", Us), // Boston
    ("BRU", Eu), // Brussels
    ("BSB", Sa), // Brasília
    ("BUD", Eu), // Budapest
    ("BWI", Us), // Baltimore
    ("CBR", Au), // Canberra
    ("CCU", In), // Kolkata
    ("CDG", Eu), // Paris (Charles de Gaulle)
    ("CGK", Ap), // Jakarta
    ("CGN", Eu), // Cologne
    ("CLE", Us), // Cleveland
    ("CLT", Us), // Charlotte
    ("CMH", Us), // Columbus
    ("CPH", Eu), // Copenhagen
    ("CPT", Za), // Cape Town
    ("CVG", Us), // Cincinnati
    ("DCA", Us), // Washington (National)
    ("DEL", In), // New Delhi
    ("DEN", Us), // Denver
    ("DFW", Us), // Dallas–Fort Worth
    ("DOH", Me), // Doha
    ("DTW", Us), // Detroit
    ("DUB", Eu), // Dublin
    ("DUR", Za), // Durban
    ("DUS", Eu), // Düsseldorf
    ("DXB", Me), // Dubai
    ("EDI", Eu), // Edinburgh
    ("EWR", Us), // Newark
    ("EZE", Sa), // Buenos Aires
    ("FCO", Eu), // Rome
    ("FJR", Me), // Fujairah
    ("FOR", Sa), // Fortaleza
    ("FRA", Eu), // Frankfurt
    ("GDL", Us), // Guadalajara, Mexico (assumed US)
    ("GIG", Sa), // Rio de Janeiro
    ("GMP", Ap), // Seoul (Gimpo)
    ("GRU", Sa), // São Paulo
    ("GVA", Eu), // Geneva
    ("HAM", Eu), // Hamburg
    ("HAN", Ap), // Hanoi
    ("HEL", Eu), // Helsinki
    ("HIO", Us), // Hillsboro (Portland, Oregon)
    ("HKG", Ap), // Hong Kong
    ("HND", Jp), // Tokyo (Haneda)
    ("HNL", Us), // Honolulu
    ("HYD", In), // Hyderabad
    ("IAD", Us), // Ashburn / Washington Dulles
    ("IAH", Us), // Houston
    ("ICN", Ap), // Seoul (Incheon)
    ("IND", Us), // Indianapolis
    ("IST", Eu), // Istanbul
    ("ITM", Jp), // Osaka (Itami)
    ("JAX", Us), // Jacksonville
    ("JED", Me), // Jeddah
    ("JFK", Us), // New York
    ("JNB", Za), // Johannesburg
    ("KIX", Jp), // Osaka (Kansai)
    ("KRK", Eu), // Kraków
    ("KUL", Ap), // Kuala Lumpur
    ("KWI", Me), // Kuwait
    ("LAS", Us), // Las Vegas
    ("LAX", Us), // Los Angeles
    ("LGA", Us), // New York (LaGuardia)
    ("LGW", Eu), // London (Gatwick)
    ("LHR", Eu), // London (Heathrow)
    ("LIM", Sa), // Lima
    ("LIN", Eu), // Milan (Linate)
    ("LIS", Eu), // Lisbon
    ("LOS", Za), // Lagos
    ("LUX", Eu), // Luxembourg
    ("LYS", Eu), // Lyon
    ("MAA", In), // Chennai
    ("MAD", Eu), // Madrid
    ("MAN", Eu), // Manchester
    ("MCI", Us), // Kansas City
    ("MCO", Us), // Orlando
    ("MCT", Me), // Muscat
    ("MEL", Au), // Melbourne
    ("MEX", Us), // Mexico City (assumed US)
    ("MIA", Us), // Miami
    ("MNL", Ap), // Manila
    ("MRS", Eu), // Marseille
    ("MSP", Us), // Minneapolis
    ("MSY", Us), // New Orleans
    ("MTY", Us), // Monterrey, Mexico (assumed US)
    ("MUC", Eu), // Munich
    ("MXP", Eu), // Milan (Malpensa)
    ("NBO", Za), // Nairobi
    ("NRT", Jp), // Tokyo (Narita)
    ("ORD", Us), // Chicago
    ("ORY", Eu), // Paris (Orly)
    ("OSL", Eu), // Oslo
    ("OTP", Eu), // Bucharest
    ("PDX", Us), // Portland, Oregon
    ("PER", Au), // Perth
    ("PHL", Us), // Philadelphia
    ("PHX", Us), // Phoenix
    ("PIT", Us), // Pittsburgh
    ("PMO", Eu), // Palermo
    ("PNQ", In), // Pune
    ("POA", Sa), // Porto Alegre
    ("PRG", Eu), // Prague
    ("QRO", Us), // Querétaro, Mexico (assumed US)
    ("RDU", Us), // Raleigh–Durham
    ("RIX", Eu), // Riga
    ("RUH", Me), // Riyadh
    ("SAN", Us), // San Diego
    ("SAT", Us), // San Antonio
    ("SAW", Eu), // Istanbul (Sabiha Gökçen)
    ("SCL", Sa), // Santiago de Chile
    ("SEA", Us), // Seattle
    ("SFO", Us), // San Francisco
    ("SGN", Ap), // Ho Chi Minh City
    ("SIN", Ap), // Singapore
    ("SJC", Us), // San Jose
    ("SLC", Us), // Salt Lake City
    ("SOF", Eu), // Sofia
    ("STL", Us), // St. Louis
    ("STR", Eu), // Stuttgart
    ("SYD", Au), // Sydney
    ("TLL", Eu), // Tallinn
    ("TLV", Eu), // Tel Aviv
    ("TPA", Us), // Tampa
    ("TPE", Ap), // Taipei (Taoyuan)
    ("TXL", Eu), // Berlin (Tegel)
    ("VCP", Sa), // Campinas
    ("VIE", Eu), // Vienna
    ("VNO", Eu), // Vilnius
    ("WAW", Eu), // Warsaw
    ("YEG", Ca), // Edmonton
    ("YOW", Ca), // Ottawa
    ("YTO", Ca), // Toronto (city code)
    ("YUL", Ca), // Montréal
    ("YVR", Ca), // Vancouver
    ("YWG", Ca), // Winnipeg
    ("YYC", Ca), // Calgary
    ("YYZ", Ca), // Toronto (Pearson)
    ("ZAG", Eu), // Zagreb
    ("ZRH", Eu), // Zürich
];

/// The billing region of an edge location (`x-edge-location`, e.g. `IAD89-C1` → `US`), from its
/// leading IATA airport code (case-insensitive). `None` when the location does not start with
/// three letters followed by a non-letter (or nothing), or the code is not in the table.
pub fn billing_region(pop: &str) -> Option<BillingRegion> {
    let bytes = pop.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if letters != 3 {
        return None;
    }
    let code = [
        bytes[0].to_ascii_uppercase(),
        bytes[1].to_ascii_uppercase(),
        bytes[2].to_ascii_uppercase(),
    ];
    TABLE
        .binary_search_by(|(c, _)| c.as_bytes().cmp(&code[..]))
        .ok()
        .map(|i| TABLE[i].1)
}

/// The edge location code an edge in `region` writes when `--pop` is not given: a code of the
/// largest CloudFront city of that region, numbered 50 and suffixed `-C1` like CloudFront's, so
/// that [`billing_region`] of it is `region` again.
pub fn default_pop(region: BillingRegion) -> &'static str {
    match region {
        Us => "IAD50-C1",
        Ca => "YUL50-C1",
        Eu => "FRA50-C1",
        Za => "JNB50-C1",
        Me => "DXB50-C1",
        Sa => "GRU50-C1",
        Jp => "NRT50-C1",
        Au => "SYD50-C1",
        Ap => "SIN50-C1",
        In => "BOM50-C1",
    }
}

/// How an edge's `--pop` relates to its `--billing-region` when logs are read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopRegion {
    /// The code reads back as the edge's region: reports from a bucket are exact.
    Matches,
    /// The code is not in the table: reports from a bucket bill its lines in the report's own
    /// `--billing-region`.
    Unknown,
    /// The code reads back as this other region: reports from a bucket would bill the edge's
    /// requests in the wrong region.
    Conflicts(BillingRegion),
}

/// Checks that `pop` reads back as `region` (see [`PopRegion`]).
pub fn check_pop(pop: &str, region: BillingRegion) -> PopRegion {
    match billing_region(pop) {
        Some(r) if r == region => PopRegion::Matches,
        Some(r) => PopRegion::Conflicts(r),
        None => PopRegion::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_large_enough() {
        assert!(TABLE.len() >= 120, "{}", TABLE.len());
        for w in TABLE.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
        for (code, _) in TABLE {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
        }
        // Every region has edges.
        for r in BillingRegion::ALL {
            assert!(TABLE.iter().any(|(_, t)| *t == r), "{r}");
        }
    }

    #[test]
    fn edge_locations_map_to_their_region() {
        let cases = [
            ("IAD89-C1", Some(Us)),
            ("SEA19-C1", Some(Us)),
            ("QRO51-P1", Some(Us)),
            ("YUL62-C2", Some(Ca)),
            ("LHR61-P5", Some(Eu)),
            ("TLV50-C1", Some(Eu)),
            ("IST51-P1", Some(Eu)),
            ("SOF50-P2", Some(Eu)),
            ("JNB50-C1", Some(Za)),
            ("NBO50-C1", Some(Za)),
            ("LOS50-P1", Some(Za)),
            ("DXB53-P1", Some(Me)),
            ("BAH53-C1", Some(Me)),
            ("GRU3-C1", Some(Sa)),
            ("NRT57-P3", Some(Jp)),
            ("SYD1", Some(Au)),
            ("AKL50-C1", Some(Au)),
            ("HKG62-C1", Some(Ap)),
            ("SIN2-P1", Some(Ap)),
            ("BOM78-P4", Some(In)),
            ("dfw3", Some(Us)),
            ("FRA", Some(Eu)),
        ];
        for (pop, want) in cases {
            assert_eq!(billing_region(pop), want, "{pop}");
        }
    }

    #[test]
    fn default_pops_read_back_as_their_region() {
        for r in BillingRegion::ALL {
            let pop = default_pop(r);
            assert_eq!(billing_region(pop), Some(r), "{pop}");
            assert_eq!(check_pop(pop, r), PopRegion::Matches, "{pop}");
        }
        assert_eq!(check_pop("FRA56-C1", Us), PopRegion::Conflicts(Eu));
        assert_eq!(check_pop("edge-a", Eu), PopRegion::Unknown);
    }

    #[test]
    fn unknown_or_malformed_locations_have_none() {
        for pop in [
            "", "-", "PEK50-C1", "PVG52-E1", "XXX1", "IA", "IADX1", "1IAD", "É12", "IA€",
        ] {
            assert_eq!(billing_region(pop), None, "{pop}");
        }
    }
}
