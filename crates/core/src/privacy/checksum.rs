//! The check-digit algorithms that separate real card numbers and IBANs from digit strings that
//! merely look like them. Shared by the built-in detectors and custom-entity validators.

/// Luhn (mod 10) over the ASCII digits of `s`, ignoring every other character. Fewer than two
/// digits never pass: a checksum over nothing proves nothing.
pub fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if count % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    count >= 2 && sum.is_multiple_of(10)
}

/// ISO 13616 mod-97 over the letters and digits of `s` (spaces and other separators ignored):
/// the first four characters move to the end, letters become 10..=35, and the number must leave
/// remainder 1. Anything other than ASCII letters, digits and separators fails.
pub fn mod97(s: &str) -> bool {
    let chars: Vec<u8> = s.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_uppercase()).collect();
    if chars.len() < 5 || s.bytes().any(|b| !b.is_ascii()) {
        return false;
    }
    let rotated = chars[4..].iter().chain(&chars[..4]);
    let mut rem = 0u32;
    for &c in rotated {
        rem = if c.is_ascii_digit() { (rem * 10 + u32::from(c - b'0')) % 97 } else { (rem * 100 + u32::from(c - b'A') + 10) % 97 };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_a_test_card_and_rejects_it_with_one_digit_changed() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(luhn("378282246310005"));
    }

    #[test]
    fn luhn_needs_at_least_two_digits() {
        assert!(!luhn("0"));
        assert!(!luhn(""));
    }

    #[test]
    fn mod97_accepts_published_example_ibans_and_rejects_a_typo() {
        assert!(mod97("DE89 3704 0044 0532 0130 00"));
        assert!(mod97("GB82WEST12345698765432"));
        assert!(!mod97("GB82WEST12345698765433"));
    }
}
