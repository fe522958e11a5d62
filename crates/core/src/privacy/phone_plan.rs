//! Per-country numbering rules for international phone numbers: the national significant number
//! (NSN, the digits after the country code, trunk prefix dropped) must have one of the lengths
//! the country assigns for its first digit. This is the length-and-prefix core of what
//! libphonenumber checks, for the ~60 most-dialled countries; a country code that is not listed
//! is not accepted (precision over recall — see `phone.rs` for why not the `phonenumber` crate).

/// One rule: NSNs starting with one of `lead` have between `min` and `max` digits.
type Rule = (&'static [u8], usize, usize);

const ANY: &[u8] = b"123456789";
const NOT_1: &[u8] = b"23456789";

/// (country calling code, rules). Codes are prefix-free, so at most one entry matches a number.
static PLANS: &[(&str, &[Rule])] = &[
    ("1", &[(NOT_1, 10, 10)]),
    ("7", &[(b"3489", 10, 10), (b"67", 10, 10)]),
    ("20", &[(b"1", 10, 10), (NOT_1, 8, 9)]),
    ("27", &[(b"12345678", 9, 9)]),
    ("30", &[(b"26789", 10, 10)]),
    ("31", &[(ANY, 9, 9)]),
    ("32", &[(b"4", 9, 9), (ANY, 8, 8)]),
    ("33", &[(ANY, 9, 9)]),
    ("34", &[(b"6789", 9, 9)]),
    ("36", &[(ANY, 8, 9)]),
    ("39", &[(b"0", 6, 11), (b"3", 9, 10)]),
    ("40", &[(b"237", 9, 9)]),
    ("41", &[(NOT_1, 9, 9)]),
    ("43", &[(ANY, 4, 13)]),
    ("44", &[(b"18", 9, 10), (b"23579", 10, 10)]),
    ("45", &[(NOT_1, 8, 8)]),
    ("46", &[(ANY, 7, 10)]),
    ("47", &[(b"2345789", 8, 8)]),
    ("48", &[(ANY, 9, 9)]),
    ("49", &[(b"1", 10, 11), (NOT_1, 6, 11)]),
    ("51", &[(b"9", 9, 9), (ANY, 8, 8)]),
    ("52", &[(ANY, 10, 10)]),
    ("54", &[(ANY, 10, 11)]),
    ("55", &[(ANY, 10, 11)]),
    ("56", &[(NOT_1, 9, 9)]),
    ("57", &[(ANY, 8, 10)]),
    ("58", &[(b"24", 10, 10)]),
    ("60", &[(ANY, 8, 10)]),
    ("61", &[(b"23478", 9, 9)]),
    ("62", &[(NOT_1, 8, 12)]),
    ("63", &[(NOT_1, 8, 10)]),
    ("64", &[(NOT_1, 8, 10)]),
    ("65", &[(b"3689", 8, 8)]),
    ("66", &[(NOT_1, 8, 9)]),
    ("81", &[(ANY, 9, 10)]),
    ("82", &[(ANY, 8, 10)]),
    ("84", &[(NOT_1, 9, 10)]),
    ("86", &[(b"1", 10, 11), (NOT_1, 9, 11)]),
    ("90", &[(b"23458", 10, 10)]),
    ("91", &[(ANY, 10, 10)]),
    ("92", &[(ANY, 9, 10)]),
    ("98", &[(ANY, 10, 10)]),
    ("212", &[(b"5678", 9, 9)]),
    ("234", &[(ANY, 8, 10)]),
    ("254", &[(b"1234567", 9, 9)]),
    ("351", &[(b"29", 9, 9)]),
    ("352", &[(b"246", 8, 11)]),
    ("353", &[(ANY, 7, 9)]),
    ("358", &[(ANY, 5, 12)]),
    ("380", &[(ANY, 9, 9)]),
    ("385", &[(ANY, 8, 9)]),
    ("420", &[(NOT_1, 9, 9)]),
    ("421", &[(ANY, 9, 9)]),
    ("852", &[(NOT_1, 8, 8)]),
    ("886", &[(ANY, 8, 9)]),
    ("961", &[(ANY, 7, 8)]),
    ("966", &[(b"15", 9, 9)]),
    ("971", &[(NOT_1, 8, 9)]),
    ("972", &[(NOT_1, 8, 9)]),
];

/// Whether `digits` (country code followed by the NSN, no trunk prefix) is a number that
/// country could have assigned. `cc_len` receives the length of the matched country code.
pub(crate) fn valid_international(digits: &[u8]) -> Option<usize> {
    PLANS.iter().find_map(|(cc, rules)| {
        let cc = cc.as_bytes();
        let nsn = digits.strip_prefix(cc)?;
        let first = *nsn.first()?;
        let ok = rules.iter().any(|(lead, min, max)| lead.contains(&first) && (*min..=*max).contains(&nsn.len()));
        let nanp_ok = cc != b"1" || nanp(nsn);
        (ok && nanp_ok).then_some(cc.len())
    })
}

/// The North American Numbering Plan: area code and exchange both start with 2–9, and the area
/// code is not an N11 service code.
pub(crate) fn nanp(ten: &[u8]) -> bool {
    ten.len() == 10 && (b'2'..=b'9').contains(&ten[0]) && ten[1..3] != *b"11" && (b'2'..=b'9').contains(&ten[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_the_assigned_length_for_their_country_are_valid() {
        assert_eq!(valid_international(b"14155552671"), Some(1));
        assert_eq!(valid_international(b"442079460958"), Some(2));
        assert_eq!(valid_international(b"33612345678"), Some(2));
        assert_eq!(valid_international(b"4930901820"), Some(2));
        assert_eq!(valid_international(b"35312345678"), Some(3));
    }

    #[test]
    fn wrong_lengths_unknown_codes_and_invalid_nanp_area_codes_are_not() {
        assert_eq!(valid_international(b"4420794609581"), None);
        assert_eq!(valid_international(b"3361234567"), None);
        assert_eq!(valid_international(b"8001234567"), None);
        assert_eq!(valid_international(b"11234567890"), None);
        assert_eq!(valid_international(b"19115552671"), None);
    }
}
