//! The block model: a block is one table's rows in one time window.
//!
//! Identity is (database, table, window). A table catalog gives every table a dense
//! [`TableId`]; a [`BlockId`] packs the table id into the high 32 bits and the window into
//! the low 32 bits, so ids sort by table, then by time, and a Roaring treemap keeps each
//! table's windows in one bitmap.
//!
//! Windows are signed (timestamps before 1970 are legal in TDengine) and stored in the low
//! half in *offset binary*: `code = window + 2^31`, so window `i32::MIN` is code 0, window 0
//! is code `2^31`, and numeric order of codes is time order. A timestamp whose window does
//! not fit in an `i32` (only possible with a tiny span and far-away timestamps) is clamped
//! to the edge window, and the edge windows are open-ended: window `i32::MIN` covers every
//! timestamp up to its end, window `i32::MAX` every timestamp from its start. Nothing is ever
//! lost by the clamp: a mark on an edge window makes a backup read everything beyond it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Timestamp precision of a TDengine database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[serde(rename = "ms")]
    Millis,
    #[serde(rename = "us")]
    Micros,
    #[serde(rename = "ns")]
    Nanos,
}

impl Precision {
    /// Timestamp units in one second.
    pub fn units_per_second(self) -> i64 {
        match self {
            Precision::Millis => 1_000,
            Precision::Micros => 1_000_000,
            Precision::Nanos => 1_000_000_000,
        }
    }

    /// The name TDengine uses in `PRECISION '..'`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Millis => "ms",
            Precision::Micros => "us",
            Precision::Nanos => "ns",
        }
    }

    /// The numeric code of the WebSocket protocol and raw blocks (0 ms, 1 us, 2 ns).
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Precision::Millis),
            1 => Some(Precision::Micros),
            2 => Some(Precision::Nanos),
            _ => None,
        }
    }

    /// Converts a duration to this precision's units, `None` if it overflows an i64.
    pub fn units_of(self, d: Duration) -> Option<i64> {
        let units = match self {
            Precision::Millis => d.as_millis(),
            Precision::Micros => d.as_micros(),
            Precision::Nanos => d.as_nanos(),
        };
        i64::try_from(units).ok()
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = BlockModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ms" => Ok(Precision::Millis),
            "us" => Ok(Precision::Micros),
            "ns" => Ok(Precision::Nanos),
            _ => Err(BlockModelError::UnknownPrecision(s.to_string())),
        }
    }
}

/// Errors of the block model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockModelError {
    #[error("unknown timestamp precision {0:?}: expected \"ms\", \"us\" or \"ns\"")]
    UnknownPrecision(String),
    #[error("block span must be positive, got {0}")]
    NonPositiveSpan(i64),
    #[error("block span {span:?} is not a whole number of {precision} units or is too large")]
    SpanNotRepresentable {
        span: Duration,
        precision: Precision,
    },
    #[error("invalid block span {input:?}: {reason}")]
    SpanSyntax { input: String, reason: String },
}

/// The length of a block's time window, in the database's precision units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct BlockSpan(i64);

impl BlockSpan {
    /// One hour, the default span, in the given precision.
    pub fn one_hour(precision: Precision) -> Self {
        BlockSpan(3_600 * precision.units_per_second())
    }

    /// A span of `units` timestamp units; must be positive.
    pub fn from_units(units: i64) -> Result<Self, BlockModelError> {
        if units > 0 {
            Ok(BlockSpan(units))
        } else {
            Err(BlockModelError::NonPositiveSpan(units))
        }
    }

    /// A span given as a duration, converted to `precision`'s units.
    pub fn from_duration(span: Duration, precision: Precision) -> Result<Self, BlockModelError> {
        let units = precision
            .units_of(span)
            .ok_or(BlockModelError::SpanNotRepresentable { span, precision })?;
        // Sub-unit spans (e.g. 500us in a ms database) would silently round: refuse them.
        let back = match precision {
            Precision::Millis => Duration::from_millis(units as u64),
            Precision::Micros => Duration::from_micros(units as u64),
            Precision::Nanos => Duration::from_nanos(units as u64),
        };
        if back != span {
            return Err(BlockModelError::SpanNotRepresentable { span, precision });
        }
        Self::from_units(units)
    }

    /// Parses a human duration such as `1h`, `30m`, `1d`, `90s`, `500ms`.
    pub fn parse_duration(input: &str) -> Result<Duration, BlockModelError> {
        let d =
            humantime::parse_duration(input.trim()).map_err(|e| BlockModelError::SpanSyntax {
                input: input.to_string(),
                reason: e.to_string(),
            })?;
        if d.is_zero() {
            return Err(BlockModelError::SpanSyntax {
                input: input.to_string(),
                reason: "span must be longer than zero".into(),
            });
        }
        Ok(d)
    }

    /// The span in timestamp units.
    pub fn units(self) -> i64 {
        self.0
    }

    /// The window holding timestamp `ts` (floor division, so negative timestamps work).
    pub fn window_of(self, ts: i64) -> Window {
        let w = ts.div_euclid(self.0);
        Window(w.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
    }

    /// The inclusive timestamp range a window covers; the edge windows are open-ended.
    pub fn range_of(self, window: Window) -> TsRange {
        let w = window.0 as i64;
        let start = if window.0 == i32::MIN {
            i64::MIN
        } else {
            w.saturating_mul(self.0)
        };
        let end = if window.0 == i32::MAX {
            i64::MAX
        } else {
            (w + 1).saturating_mul(self.0).saturating_sub(1)
        };
        TsRange { start, end }
    }

    /// The first and last window touched by an inclusive timestamp range.
    pub fn windows_of(self, range: TsRange) -> (Window, Window) {
        (self.window_of(range.start), self.window_of(range.end))
    }

    /// Whether `range` covers every timestamp of `window`.
    pub fn covers_window(self, range: TsRange, window: Window) -> bool {
        let w = self.range_of(window);
        range.start <= w.start && range.end >= w.end
    }
}

impl TryFrom<i64> for BlockSpan {
    type Error = BlockModelError;
    fn try_from(units: i64) -> Result<Self, Self::Error> {
        Self::from_units(units)
    }
}

impl From<BlockSpan> for i64 {
    fn from(span: BlockSpan) -> i64 {
        span.0
    }
}

/// An inclusive range of timestamps `[start, end]`, in a database's precision (the form
/// TDengine's DELETE and taosdump's `-S/-E` use). `start > end` is an empty range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TsRange {
    pub start: i64,
    pub end: i64,
}

impl TsRange {
    pub fn new(start: i64, end: i64) -> Self {
        TsRange { start, end }
    }

    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }

    pub fn contains(&self, ts: i64) -> bool {
        self.start <= ts && ts <= self.end
    }
}

/// A table's dense id in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TableId(pub u32);

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// A time window number: `floor(ts / span)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Window(pub i32);

impl Window {
    pub const MIN: Window = Window(i32::MIN);
    pub const MAX: Window = Window(i32::MAX);

    /// The window's code in the low half of a block id (offset binary, order-preserving).
    pub fn code(self) -> u32 {
        (self.0 as u32) ^ 0x8000_0000
    }

    /// Inverse of [`Window::code`].
    pub fn from_code(code: u32) -> Window {
        Window((code ^ 0x8000_0000) as i32)
    }

    /// The next window, `None` past the last.
    pub fn next(self) -> Option<Window> {
        self.0.checked_add(1).map(Window)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}", self.0)
    }
}

/// A block's id: `table_id << 32 | window.code()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockId(u64);

impl BlockId {
    pub fn new(table: TableId, window: Window) -> Self {
        BlockId(((table.0 as u64) << 32) | window.code() as u64)
    }

    pub fn table(self) -> TableId {
        TableId((self.0 >> 32) as u32)
    }

    pub fn window(self) -> Window {
        Window::from_code(self.0 as u32)
    }

    /// The raw u64, for bitmaps and on-disk formats.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// From a raw u64 as produced by [`BlockId::as_u64`]; every u64 is a valid id.
    pub fn from_u64(raw: u64) -> Self {
        BlockId(raw)
    }

    /// The first block id of a table (its earliest window).
    pub fn first_of(table: TableId) -> Self {
        BlockId::new(table, Window::MIN)
    }

    /// The last block id of a table (its latest window).
    pub fn last_of(table: TableId) -> Self {
        BlockId::new(table, Window::MAX)
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.table(), self.window())
    }
}

/// The state of a block since the last backup (see docs/DESIGN.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BlockState {
    /// No change since the last backup.
    Clean,
    /// Not in the backup chain, written since.
    New,
    /// In the backup chain, written (or partly deleted) since.
    Dirty,
    /// In the backup chain, wholly deleted (or its table dropped) since.
    Deleted,
}

impl BlockState {
    pub const ALL: [BlockState; 4] = [
        BlockState::Clean,
        BlockState::New,
        BlockState::Dirty,
        BlockState::Deleted,
    ];
}

impl fmt::Display for BlockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockState::Clean => "CLEAN",
            BlockState::New => "NEW",
            BlockState::Dirty => "DIRTY",
            BlockState::Deleted => "DELETED",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_codes_preserve_order_and_round_trip() {
        let windows = [
            i32::MIN,
            i32::MIN + 1,
            -2,
            -1,
            0,
            1,
            2,
            i32::MAX - 1,
            i32::MAX,
        ];
        for pair in windows.windows(2) {
            assert!(Window(pair[0]).code() < Window(pair[1]).code());
        }
        for w in windows {
            assert_eq!(Window::from_code(Window(w).code()), Window(w));
        }
        assert_eq!(Window(i32::MIN).code(), 0);
        assert_eq!(Window(0).code(), 1 << 31);
        assert_eq!(Window(i32::MAX).code(), u32::MAX);
    }

    #[test]
    fn block_id_round_trips_at_the_edges() {
        for table in [0, 1, u32::MAX - 1, u32::MAX] {
            for window in [i32::MIN, -1, 0, 1, i32::MAX] {
                let id = BlockId::new(TableId(table), Window(window));
                assert_eq!(id.table(), TableId(table));
                assert_eq!(id.window(), Window(window));
                assert_eq!(BlockId::from_u64(id.as_u64()), id);
            }
        }
        assert_eq!(BlockId::new(TableId(0), Window::MIN).as_u64(), 0);
        assert_eq!(
            BlockId::new(TableId(u32::MAX), Window::MAX).as_u64(),
            u64::MAX
        );
    }

    #[test]
    fn block_ids_sort_by_table_then_time() {
        let a = BlockId::new(TableId(1), Window(-5));
        let b = BlockId::new(TableId(1), Window(3));
        let c = BlockId::new(TableId(2), Window::MIN);
        assert!(a < b && b < c);
        assert!(BlockId::last_of(TableId(1)) < BlockId::first_of(TableId(2)));
    }

    #[test]
    fn window_of_floors_negative_timestamps() {
        let span = BlockSpan::from_units(10).unwrap();
        assert_eq!(span.window_of(0), Window(0));
        assert_eq!(span.window_of(9), Window(0));
        assert_eq!(span.window_of(10), Window(1));
        assert_eq!(span.window_of(-1), Window(-1));
        assert_eq!(span.window_of(-10), Window(-1));
        assert_eq!(span.window_of(-11), Window(-2));
    }

    #[test]
    fn range_of_is_exact_and_inverse_of_window_of() {
        let span = BlockSpan::one_hour(Precision::Millis);
        for w in [-3, -1, 0, 1, 470_000] {
            let r = span.range_of(Window(w));
            assert_eq!(r.end - r.start + 1, span.units());
            assert_eq!(span.window_of(r.start), Window(w));
            assert_eq!(span.window_of(r.end), Window(w));
            assert_eq!(span.window_of(r.start - 1), Window(w - 1));
            assert_eq!(span.window_of(r.end + 1), Window(w + 1));
        }
    }

    #[test]
    fn out_of_range_windows_clamp_to_open_ended_edges() {
        let span = BlockSpan::from_units(1).unwrap();
        assert_eq!(span.window_of(i64::MAX), Window::MAX);
        assert_eq!(span.window_of(i64::MIN), Window::MIN);
        assert_eq!(span.window_of(1 << 40), Window::MAX);
        let hi = span.range_of(Window::MAX);
        assert_eq!(hi, TsRange::new(i32::MAX as i64, i64::MAX));
        assert!(hi.contains(1 << 40));
        let lo = span.range_of(Window::MIN);
        assert_eq!(lo.start, i64::MIN);
        assert!(lo.contains(-(1 << 40)));
    }

    #[test]
    fn spans_parse_in_every_precision() {
        let d = BlockSpan::parse_duration("1h").unwrap();
        assert_eq!(
            BlockSpan::from_duration(d, Precision::Millis)
                .unwrap()
                .units(),
            3_600_000
        );
        assert_eq!(
            BlockSpan::from_duration(d, Precision::Micros)
                .unwrap()
                .units(),
            3_600_000_000
        );
        assert_eq!(
            BlockSpan::from_duration(d, Precision::Nanos)
                .unwrap()
                .units(),
            3_600_000_000_000
        );
        assert_eq!(
            BlockSpan::one_hour(Precision::Nanos).units(),
            3_600_000_000_000
        );
        let half_ms = Duration::from_micros(500);
        assert!(BlockSpan::from_duration(half_ms, Precision::Millis).is_err());
        assert!(BlockSpan::parse_duration("0s").is_err());
        assert!(BlockSpan::parse_duration("soon").is_err());
        assert!(BlockSpan::from_units(0).is_err());
        assert!(BlockSpan::from_units(-5).is_err());
    }

    #[test]
    fn covers_window_needs_the_whole_window() {
        let span = BlockSpan::from_units(10).unwrap();
        assert!(span.covers_window(TsRange::new(10, 19), Window(1)));
        assert!(span.covers_window(TsRange::new(0, 100), Window(1)));
        assert!(!span.covers_window(TsRange::new(11, 19), Window(1)));
        assert!(!span.covers_window(TsRange::new(10, 18), Window(1)));
        assert_eq!(
            span.windows_of(TsRange::new(-5, 25)),
            (Window(-1), Window(2))
        );
    }

    #[test]
    fn precision_codes_and_names() {
        assert_eq!(Precision::from_code(2), Some(Precision::Nanos));
        assert_eq!(Precision::from_code(3), None);
        assert_eq!("US".parse::<Precision>().unwrap(), Precision::Micros);
        assert!("s".parse::<Precision>().is_err());
    }
}
