//! Literal values into cells of a column's type; timestamps in a database's precision.

use crate::ast::Expr;
use crate::error::TaosError;
use crate::store::Precision;
use crate::value::{Cell, ColDef, ColType};

/// Nanoseconds since the epoch now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

pub fn now_ms() -> i64 {
    now_ns() / 1_000_000
}

/// A connection's time zone (taosAdapter's `conn` `tz`, set with
/// TSDB_OPTION_CONNECTION_TIMEZONE; the server process's zone when none is given).
pub type Zone = jiff::tz::TimeZone;

/// A timestamp literal in `precision` units: an integer as is, `NOW ± d`, or a date string
/// `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|±HH:MM]`, read in `tz` when it names no zone (as
/// taosd's client reads it in the connection's time zone).
pub fn timestamp(expr: &Expr, precision: Precision, tz: &Zone) -> Result<i64, TaosError> {
    match expr {
        Expr::Int(v) => {
            i64::try_from(*v).map_err(|_| TaosError::bad_value("timestamp out of range"))
        }
        Expr::Now(offset) => Ok((now_ns() + offset) / precision.ns_per_unit()),
        Expr::Str(s) => parse_datetime_ns(s, tz)
            .map(|ns| ns.div_euclid(precision.ns_per_unit()))
            .ok_or_else(|| TaosError::new(0x2603, format!("Invalid timestamp format: {s}"))),
        other => Err(TaosError::bad_value(&format!(
            "{other:?} is not a timestamp"
        ))),
    }
}

fn parse_datetime_ns(s: &str, tz: &Zone) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_at(s.find([' ', 'T'])?);
    let rest = &rest[1..];
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (time, zone_secs) = match rest.find(['Z', '+']).or_else(|| rest.rfind('-')) {
        Some(i) => {
            let zone = &rest[i..];
            let secs = if zone == "Z" {
                0
            } else {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                let z = zone[1..].replace(':', "");
                let hh: i64 = z.get(0..2)?.parse().ok()?;
                let mm: i64 = z.get(2..4).unwrap_or("00").parse().ok()?;
                sign * (hh * 3600 + mm * 60)
            };
            (&rest[..i], Some(secs))
        }
        None => (rest, None),
    };
    let mut t = time.split(':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec_text = t.next()?;
    let (sec, frac) = match sec_text.split_once('.') {
        Some((a, b)) => (a, b),
        None => (sec_text, ""),
    };
    let sec: i64 = sec.parse().ok()?;
    let mut frac_ns: i64 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        frac_ns += c.to_digit(10)? as i64 * 10i64.pow(8 - i as u32);
    }
    let secs = match zone_secs {
        Some(offset) => {
            let days = days_from_civil(y, m, day);
            days * 86_400 + hh * 3600 + mi * 60 + sec - offset
        }
        None => {
            let civil = jiff::civil::DateTime::new(
                i16::try_from(y).ok()?,
                i8::try_from(m).ok()?,
                i8::try_from(day).ok()?,
                i8::try_from(hh).ok()?,
                i8::try_from(mi).ok()?,
                i8::try_from(sec).ok()?,
                0,
            )
            .ok()?;
            tz.to_timestamp(civil).ok()?.as_second()
        }
    };
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, day: i64) -> i64 {
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A literal as a cell of `col`.
pub fn cell(expr: &Expr, col: &ColDef, precision: Precision, tz: &Zone) -> Result<Cell, TaosError> {
    if matches!(expr, Expr::Null) {
        return Ok(Cell::Null);
    }
    let bad = || {
        TaosError::bad_value(&format!(
            "{expr:?} for column {} ({})",
            col.name,
            col.ty.sql_name()
        ))
    };
    let int = |lo: i128, hi: i128| -> Result<i128, TaosError> {
        let v = match expr {
            Expr::Int(v) => *v,
            Expr::Float(f) => *f as i128,
            Expr::Bool(b) => *b as i128,
            Expr::Str(s) => s.trim().parse::<i128>().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        if v < lo || v > hi {
            return Err(TaosError::new(
                0x2603,
                format!("Value out of range: {v} for column {}", col.name),
            ));
        }
        Ok(v)
    };
    Ok(match col.ty {
        ColType::Timestamp => Cell::Int(timestamp(expr, precision, tz)?),
        ColType::Bool => match expr {
            Expr::Bool(b) => Cell::Bool(*b),
            Expr::Int(v) => Cell::Bool(*v != 0),
            Expr::Str(s) if s.eq_ignore_ascii_case("true") => Cell::Bool(true),
            Expr::Str(s) if s.eq_ignore_ascii_case("false") => Cell::Bool(false),
            _ => return Err(bad()),
        },
        ColType::TinyInt => Cell::Int(int(i8::MIN as i128, i8::MAX as i128)? as i64),
        ColType::SmallInt => Cell::Int(int(i16::MIN as i128, i16::MAX as i128)? as i64),
        ColType::Int => Cell::Int(int(i32::MIN as i128, i32::MAX as i128)? as i64),
        ColType::BigInt => Cell::Int(int(i64::MIN as i128, i64::MAX as i128)? as i64),
        ColType::UTinyInt => Cell::UInt(int(0, u8::MAX as i128)? as u64),
        ColType::USmallInt => Cell::UInt(int(0, u16::MAX as i128)? as u64),
        ColType::UInt => Cell::UInt(int(0, u32::MAX as i128)? as u64),
        ColType::UBigInt => Cell::UInt(int(0, u64::MAX as i128)? as u64),
        ColType::Float | ColType::Double => match expr {
            Expr::Int(v) => Cell::Float(*v as f64),
            Expr::Float(f) => Cell::Float(if col.ty == ColType::Float {
                *f as f32 as f64
            } else {
                *f
            }),
            Expr::Str(s) => Cell::Float(s.trim().parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
        ColType::VarChar | ColType::NChar | ColType::Json => {
            let s = match expr {
                Expr::Str(s) => s.clone(),
                Expr::Int(v) => v.to_string(),
                Expr::Float(f) => f.to_string(),
                Expr::Bool(b) => b.to_string(),
                _ => return Err(bad()),
            };
            let len = if col.ty == ColType::NChar {
                s.chars().count()
            } else {
                s.len()
            };
            if col.ty != ColType::Json && len > col.len as usize {
                return Err(TaosError::new(
                    0x2653,
                    format!("Value too long for column {}", col.name),
                ));
            }
            Cell::Str(s)
        }
        ColType::Geometry => match expr {
            Expr::Str(s) => {
                let wkb = crate::geometry::wkt_to_wkb(s).ok_or_else(|| {
                    TaosError::new(
                        0x2603,
                        format!(
                            "Invalid value for GEOMETRY column {}: {s:?} is not POINT, LINESTRING or POLYGON WKT",
                            col.name
                        ),
                    )
                })?;
                if wkb.len() > col.len as usize {
                    return Err(TaosError::new(
                        0x2653,
                        format!("Value too long for column {}", col.name),
                    ));
                }
                Cell::Bytes(wkb)
            }
            _ => return Err(bad()),
        },
        ColType::Decimal { precision, scale } => {
            Cell::Decimal(decimal(expr, precision, scale).ok_or_else(|| {
                TaosError::new(
                    0x2603,
                    format!(
                        "Decimal value overflow or invalid: {expr:?} for column {} DECIMAL({precision}, {scale})",
                        col.name
                    ),
                )
            })?)
        }
        ColType::VarBinary => match expr {
            Expr::Str(s) => {
                let bytes = match s.strip_prefix("\\x") {
                    Some(hex) => decode_hex(hex).ok_or_else(bad)?,
                    None => s.as_bytes().to_vec(),
                };
                if bytes.len() > col.len as usize {
                    return Err(TaosError::new(
                        0x2653,
                        format!("Value too long for column {}", col.name),
                    ));
                }
                Cell::Bytes(bytes)
            }
            _ => return Err(bad()),
        },
    })
}

/// A literal as a DECIMAL(precision, scale)'s unscaled value: extra decimals round half
/// away from zero (`10.987` in DECIMAL(10, 2) is 10.99 — docs 01-data-type.md); more
/// integer digits than `precision - scale` is an overflow (None).
fn decimal(expr: &Expr, precision: u8, scale: u8) -> Option<i128> {
    let text = match expr {
        Expr::Int(v) => v.to_string(),
        Expr::Float(f) => format!("{f}"),
        Expr::Str(s) => s.trim().to_string(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .chars()
            .chain(frac_part.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let scale = usize::from(scale);
    let mut unscaled: i128 = 0;
    for c in int_part
        .chars()
        .chain(frac_part.chars().chain(std::iter::repeat('0')).take(scale))
    {
        unscaled = unscaled
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)?))?;
    }
    if frac_part.chars().nth(scale).is_some_and(|c| c >= '5') {
        unscaled = unscaled.checked_add(1)?;
    }
    if unscaled >= 10i128.checked_pow(u32::from(precision))? {
        return None;
    }
    Some(if negative { -unscaled } else { unscaled })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::UTC
    }

    /// taosd reads a date string without a zone in the connection's time zone
    /// (TSDB_OPTION_CONNECTION_TIMEZONE, taosAdapter `conn` `tz`).
    #[test]
    fn date_strings_follow_the_time_zone() {
        let e = Expr::Str("2024-01-01 08:00:00".into());
        let shanghai = Zone::get("Asia/Shanghai").unwrap();
        assert_eq!(
            timestamp(&e, Precision::Millis, &shanghai).unwrap(),
            1_704_067_200_000
        );
        let explicit = Expr::Str("2024-01-01T00:00:00Z".into());
        assert_eq!(
            timestamp(&explicit, Precision::Millis, &shanghai).unwrap(),
            1_704_067_200_000
        );
    }

    #[test]
    fn date_strings_in_each_precision() {
        let e = Expr::Str("2024-01-01 00:00:00.123".into());
        assert_eq!(
            timestamp(&e, Precision::Millis, &utc()).unwrap(),
            1_704_067_200_123
        );
        assert_eq!(
            timestamp(&e, Precision::Micros, &utc()).unwrap(),
            1_704_067_200_123_000
        );
        let z = Expr::Str("2024-01-01T01:00:00+01:00".into());
        assert_eq!(
            timestamp(&z, Precision::Millis, &utc()).unwrap(),
            1_704_067_200_000
        );
        let old = Expr::Str("1969-12-31 23:59:59.999".into());
        assert_eq!(timestamp(&old, Precision::Millis, &utc()).unwrap(), -1);
        assert!(timestamp(&Expr::Str("yesterday".into()), Precision::Millis, &utc()).is_err());
    }

    #[test]
    fn decimals_round_and_overflow() {
        // TDengine 3.3.6 docs, 01-data-type.md: DECIMAL(10, 2) stores 10.987 as 10.99.
        assert_eq!(decimal(&Expr::Float(10.987), 10, 2), Some(1099));
        assert_eq!(decimal(&Expr::Str("-0.005".into()), 4, 2), Some(-1));
        assert_eq!(decimal(&Expr::Int(12), 4, 2), Some(1200));
        // DECIMAL(8, 4) holds up to 9999.9999.
        assert_eq!(
            decimal(&Expr::Str("9999.9999".into()), 8, 4),
            Some(99_999_999)
        );
        assert_eq!(decimal(&Expr::Str("10000".into()), 8, 4), None);
        assert_eq!(decimal(&Expr::Str("1e3".into()), 8, 4), None);
    }

    #[test]
    fn ranges_are_checked() {
        let col = ColDef::new("c", ColType::TinyInt, 1);
        assert!(cell(&Expr::Int(200), &col, Precision::Millis, &utc()).is_err());
        assert_eq!(
            cell(&Expr::Int(-5), &col, Precision::Millis, &utc()).unwrap(),
            Cell::Int(-5)
        );
        let col = ColDef::new("s", ColType::VarChar, 3);
        assert!(cell(&Expr::Str("abcd".into()), &col, Precision::Millis, &utc()).is_err());
    }
}
