//! Values written out as words: an OS error as a short phrase, a byte count for people, a
//! moment as RFC 3339. Every layer writes these, so they live at the bottom.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

/// An OS error as a short phrase (`connection refused`), without `(os error 111)`.
pub fn io_phrase(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `1.5 GiB` for people.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2026-11-23T01:02:03.456Z`, without a date crate.
pub fn rfc3339(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days, Howard Hinnant's algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The moment [`rfc3339`] wrote, read back: `None` for text of any other shape.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    // Digits at these offsets, separators between: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    if text.len() != 24 || text.get(19..20)? != "." || text.get(23..)? != "Z" {
        return None;
    }
    let n = |from: usize, to: usize| text.get(from..to)?.parse::<u64>().ok();
    let (year, month, day) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hour, min, sec, ms) = (n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 23)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Days-from-civil, the inverse of the algorithm above.
    let y = year as i64 - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let secs = days * 86_400 + hour * 3_600 + min * 60 + sec;
    Some(UNIX_EPOCH + std::time::Duration::from_millis(secs * 1_000 + ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_os_error_reads_as_a_phrase() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(io_phrase(&refused), "connection refused");
        assert_eq!(io_phrase(&io::Error::other("Odd")), "odd");
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_395_723_456);
        assert_eq!(rfc3339(t), "2026-11-23T01:02:03.456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
        for at in [UNIX_EPOCH, t, leap] {
            assert_eq!(parse_rfc3339(&rfc3339(at)), Some(at));
        }
        for odd in [
            "",
            "2026-11-23T01:02:03Z",
            "2026-13-23T01:02:03.456Z",
            "2026-11-23T01:02:03.45éZ",
        ] {
            assert_eq!(parse_rfc3339(odd), None, "{odd}");
        }
    }
}
