//! Instants as the admin API accepts them: RFC 3339 text (`2027-01-01T00:00:00Z`,
//! `2027-01-01T09:30:00.5+02:00`) or Unix seconds (`1798761600`), read as Unix milliseconds.

/// Unix milliseconds, or `None` when `text` is neither form.
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    parse_rfc3339(text)
}

/// What an error message says is accepted.
pub const ACCEPTED: &str = "an RFC 3339 time like 2027-01-01T00:00:00Z or Unix seconds";

fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Optional fraction, then `Z` or `±HH:MM`.
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        millis = format!("{:0<3}", &fraction[..digits.min(3)]).parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = num_pair(*h1, *h2)?;
            let minutes = num_pair(*m1, *m2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn num_pair(a: u8, b: u8) -> Option<i64> {
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::time::rfc3339;

    #[test]
    fn reads_both_forms() {
        assert_eq!(parse_instant("0"), Some(0));
        assert_eq!(parse_instant("1798761600"), Some(1_798_761_600_000));
        assert_eq!(parse_instant("2027-01-01T00:00:00Z"), Some(1_798_761_600_000));
        assert_eq!(parse_instant("2027-01-01T02:00:00+02:00"), Some(1_798_761_600_000));
        assert_eq!(parse_instant("2026-12-31T23:30:00-00:30"), Some(1_798_761_600_000));
        assert_eq!(parse_instant("2000-02-29t00:00:00.25z"), Some(951_782_400_250));
        assert_eq!(rfc3339(parse_instant("2026-11-22T03:45:32.123456Z").unwrap()), "2026-11-22T03:45:32.123Z");
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "-5",
            "soon",
            "2027-01-01",
            "2027-01-01T00:00:00",
            "2027-02-29T00:00:00Z",
            "2027-13-01T00:00:00Z",
            "2027-01-01T24:00:00Z",
            "2027-01-01T00:00:00.Z",
            "2027-01-01T00:00:00+2:00",
            "1e9",
            "99999999999999999999",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }
}
