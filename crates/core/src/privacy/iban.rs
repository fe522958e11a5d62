//! IBANs: a country code with its registered IBAN length, two check digits, and a BBAN, either
//! compact (`GB82WEST12345698765432`) or printed in groups of four (`DE89 3704 0044 …`), that
//! passes ISO 13616 mod-97. Upper case only, as IBANs are printed; a lower-case IBAN is not
//! detected.

use std::ops::Range;

use super::bounds::{is_word, word_starts};
use super::checksum::mod97;

/// Registered IBAN lengths per country (SWIFT IBAN registry), sorted for binary search.
static LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// The IBAN whose country code starts at `start`, if there is one. The caller has seen two
/// upper-case letters followed by a digit there.
pub(crate) fn at(bytes: &[u8], start: usize) -> Option<Range<usize>> {
    if !word_starts(bytes, start) {
        return None;
    }
    let country = bytes.get(start..start + 2)?;
    let len = LENGTHS[LENGTHS.binary_search_by(|(c, _)| c.as_slice().cmp(country)).ok()?].1;
    let mut i = start;
    let mut taken = 0;
    while taken < len {
        let b = *bytes.get(i)?;
        if b == b' ' && taken % 4 == 0 && taken > 0 {
            i += 1;
            continue;
        }
        let ok = if taken < 2 {
            b.is_ascii_uppercase()
        } else if taken < 4 {
            b.is_ascii_digit()
        } else {
            b.is_ascii_uppercase() || b.is_ascii_digit()
        };
        if !ok {
            return None;
        }
        taken += 1;
        i += 1;
    }
    let glued = bytes.get(i).is_some_and(|&b| is_word(b));
    let text = std::str::from_utf8(&bytes[start..i]).ok()?;
    (!glued && mod97(text)).then_some(start..i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Option<&str> {
        let start =
            s.as_bytes().windows(3).position(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase() && w[2].is_ascii_digit())?;
        at(s.as_bytes(), start).map(|r| &s[r])
    }

    #[test]
    fn the_length_table_is_sorted_for_binary_search() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn printed_and_compact_ibans_with_a_valid_checksum_are_found() {
        assert_eq!(find("to DE89 3704 0044 0532 0130 00 please"), Some("DE89 3704 0044 0532 0130 00"));
        assert_eq!(find("IBAN: GB82WEST12345698765432."), Some("GB82WEST12345698765432"));
        assert_eq!(find("FR14 2004 1010 0505 0001 3M02 606"), Some("FR14 2004 1010 0505 0001 3M02 606"));
    }

    #[test]
    fn a_wrong_checksum_length_or_glued_suffix_is_not_an_iban() {
        assert_eq!(find("DE89 3704 0044 0532 0130 01"), None);
        assert_eq!(find("GB82WEST1234569876543"), None);
        assert_eq!(find("GB82WEST12345698765432X"), None);
        assert_eq!(find("XX82WEST12345698765432"), None);
    }
}
