//! Go's `time.Time`, which gob sends as the bytes its `GobEncode` method writes.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// The newtype name a [`Time`] serializes under: the gob encoder sends it as Go's
/// `time.Time` (a `GobEncoder` type) rather than as bytes...
pub(crate) const NAME: &str = "netrpc::gob::Time";
/// ...and this one when it is Go's zero time, which a struct leaves out.
pub(crate) const ZERO_NAME: &str = "netrpc::gob::Time(zero)";
/// Go's name for the type, in its definition on the wire.
pub(crate) const GO_NAME: &str = "time.Time";

/// Seconds from January 1 of year 1 (where Go counts from) to the Unix epoch.
const YEAR_1_TO_UNIX: i64 = 62_135_596_800;
const NANOS_PER_SEC: u32 = 1_000_000_000;

/// Go's `time.Time` on the gob wire: an instant, to the nanosecond, and the offset from UTC
/// it was written in.
///
/// A struct field of this type is a Go `time.Time` field: Go sends a `time.Time` as the bytes
/// of its `GobEncode` method (a type that encodes itself), which this type reads and writes
/// byte for byte. Go keeps the zone's offset, not its name, and so does `Time`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use netrpc::gob::Time;
///
/// let then = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
/// let t = Time::from(then);
/// assert_eq!((t.unix_seconds(), t.nanosecond(), t.offset()), (1_700_000_000, 5, None));
/// assert_eq!(t.to_system_time(), Some(then));
///
/// // 10:30 in India, at UTC+5:30.
/// let ist = Time::from_unix(1_700_000_000, 0).with_offset(5 * 3600 + 30 * 60).unwrap();
/// assert_eq!(ist.offset(), Some(19_800));
/// assert_eq!(ist.unix_seconds(), 1_700_000_000);
/// ```
///
/// `Time::default()` is Go's zero time, January 1 of year 1, UTC: as Go does, a struct leaves
/// a zero `Time` field out, and a field Go left out decodes as it. On the other wires
/// (MessagePack-RPC, JSON-RPC) a `Time` travels as the same bytes; Go's `encoding/json`
/// writes RFC 3339 text instead, which this type does not read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Time {
    /// Seconds since January 1 of year 1, UTC.
    secs: i64,
    nanos: u32,
    /// Seconds east of UTC; `None` is UTC itself.
    offset: Option<i32>,
}

impl Time {
    /// The instant `secs` seconds and `nanos` nanoseconds after the Unix epoch, in UTC (what
    /// Go's `time.Unix(secs, nanos).UTC()` gives). Nanoseconds past a second carry over.
    pub fn from_unix(secs: i64, nanos: u32) -> Time {
        let secs = secs
            .saturating_add(i64::from(nanos / NANOS_PER_SEC))
            .saturating_add(YEAR_1_TO_UNIX);
        Time {
            secs,
            nanos: nanos % NANOS_PER_SEC,
            offset: None,
        }
    }

    /// The same instant, written in the fixed zone `seconds_east` of UTC; `None` where Go
    /// cannot send that offset (beyond ±32,767 minutes, or within the minute before UTC,
    /// which its encoding reserves for UTC itself).
    pub fn with_offset(self, seconds_east: i32) -> Option<Time> {
        let minutes = seconds_east / 60;
        if !(-32_768..=32_767).contains(&minutes) || minutes == -1 {
            return None;
        }
        Some(Time {
            offset: Some(seconds_east),
            ..self
        })
    }

    /// Seconds since the Unix epoch (negative before it).
    pub fn unix_seconds(&self) -> i64 {
        self.secs.wrapping_sub(YEAR_1_TO_UNIX)
    }

    /// Nanoseconds past [`Time::unix_seconds`], below a billion.
    pub fn nanosecond(&self) -> u32 {
        self.nanos
    }

    /// Seconds east of UTC of the zone the time was written in; `None` for UTC.
    pub fn offset(&self) -> Option<i32> {
        self.offset
    }

    /// Whether this is Go's zero time (`time.Time{}`: January 1 of year 1, UTC).
    pub fn is_zero(&self) -> bool {
        *self == Time::default()
    }

    /// The instant as a `SystemTime`; `None` where the platform's `SystemTime` cannot hold it.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let secs = self.unix_seconds();
        if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), self.nanos))
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
                .checked_add(Duration::from_nanos(self.nanos.into()))
        }
    }

    /// The bytes of Go's `Time.MarshalBinary` (which `GobEncode` is): a version, seconds since
    /// year 1 and nanoseconds, big-endian, then the offset in minutes (-1 for UTC), and for
    /// an offset of odd seconds (version 2) those seconds.
    fn encode(&self) -> Vec<u8> {
        // Go divides and takes the remainder toward zero, as Rust does.
        let (minutes, odd_seconds) = match self.offset {
            None => (-1i16, 0),
            Some(offset) => (
                i16::try_from(offset / 60).unwrap_or(i16::MAX),
                (offset % 60) as i8,
            ),
        };
        let version = if odd_seconds == 0 { 1 } else { 2 };
        let mut out = Vec::with_capacity(16);
        out.push(version);
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.nanos.to_be_bytes());
        out.extend_from_slice(&minutes.to_be_bytes());
        if version == 2 {
            out.push(odd_seconds as u8);
        }
        out
    }

    /// Reads the bytes of Go's `Time.MarshalBinary`, with Go's errors; no bytes at all are
    /// the zero time (a field Go left out).
    fn decode(bytes: &[u8]) -> Result<Time, &'static str> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Ok(Time::default());
        };
        let want = match version {
            1 => 14,
            2 => 15,
            _ => return Err("Time.UnmarshalBinary: unsupported version"),
        };
        if rest.len() != want {
            return Err("Time.UnmarshalBinary: invalid length");
        }
        let secs = i64::from_be_bytes(rest[..8].try_into().unwrap_or_default());
        let nanos = u32::from_be_bytes(rest[8..12].try_into().unwrap_or_default());
        let minutes = i16::from_be_bytes([rest[12], rest[13]]);
        // As Go reads it: the odd seconds as an unsigned byte.
        let odd_seconds = rest.get(14).map_or(0, |&b| i32::from(b));
        let offset = (minutes != -1).then(|| i32::from(minutes) * 60 + odd_seconds);
        Ok(Time {
            secs,
            // Go keeps what it is sent; a count past a second is not Go's own writing.
            nanos: nanos % NANOS_PER_SEC,
            offset,
        })
    }
}

impl From<SystemTime> for Time {
    fn from(t: SystemTime) -> Time {
        match t.duration_since(UNIX_EPOCH) {
            Ok(after) => Time::from_unix(
                i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                after.subsec_nanos(),
            ),
            Err(before) => {
                let before = before.duration();
                let mut secs = -i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                let mut nanos = before.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = NANOS_PER_SEC - nanos;
                }
                Time::from_unix(secs, nanos)
            }
        }
    }
}

/// A `Time`'s bytes, given to the serializer as bytes.
struct Encoded<'a>(&'a [u8]);

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = if self.is_zero() { ZERO_NAME } else { NAME };
        serializer.serialize_newtype_struct(name, &Encoded(&self.encode()))
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        deserializer.deserialize_newtype_struct(NAME, TimeVisitor)
    }
}

struct TimeVisitor;

impl<'de> Visitor<'de> for TimeVisitor {
    type Value = Time;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the bytes of a Go time.Time")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Time, D::Error> {
        d.deserialize_bytes(TimeVisitor)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Time, E> {
        Time::decode(v).map_err(E::custom)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Time, A::Error> {
        // Bytes as a sequence of numbers, as some formats send them.
        let mut bytes = Vec::with_capacity(16);
        while let Some(b) = seq.next_element::<u8>()? {
            if bytes.len() == 16 {
                return Err(de::Error::custom("Time.UnmarshalBinary: invalid length"));
            }
            bytes.push(b);
        }
        self.visit_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_s_bytes_for_times_and_back() {
        // As Go 1.19's MarshalBinary writes them.
        let zero = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        assert_eq!(Time::default().encode(), zero);
        assert_eq!(Time::decode(&zero), Ok(Time::default()));
        let t = Time::from_unix(0, 1).with_offset(3600).unwrap();
        let bytes = [1, 0, 0, 0, 14, 119, 145, 247, 0, 0, 0, 0, 1, 0, 60];
        assert_eq!(t.encode(), bytes);
        assert_eq!(Time::decode(&bytes), Ok(t));
        let odd = Time::from_unix(0, 0).with_offset(3600 + 7).unwrap();
        let bytes = [2, 0, 0, 0, 14, 119, 145, 247, 0, 0, 0, 0, 0, 0, 60, 7];
        assert_eq!(odd.encode(), bytes);
        assert_eq!(Time::decode(&bytes), Ok(odd));
        // Go writes -30 s as minute 0 and second -30, and reads that byte back unsigned.
        let west = Time::from_unix(0, 0).with_offset(-30).unwrap();
        assert_eq!(west.encode()[13..], [0, 0, 226]);
        assert_eq!(Time::decode(&west.encode()).unwrap().offset(), Some(226));
        assert_eq!(Time::decode(&[]), Ok(Time::default()));
        assert!(Time::decode(&[3; 15]).is_err());
        assert!(Time::decode(&zero[..14]).is_err());
    }

    #[test]
    fn system_times_convert_both_ways() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999),
            UNIX_EPOCH - Duration::new(86_400, 1),
        ] {
            assert_eq!(Time::from(t).to_system_time(), Some(t));
        }
        let before = Time::from(UNIX_EPOCH - Duration::new(0, 1));
        assert_eq!(
            (before.unix_seconds(), before.nanosecond()),
            (-1, 999_999_999)
        );
        assert_eq!(Time::default().unix_seconds(), -YEAR_1_TO_UNIX);
        assert_eq!(Time::from_unix(1, 2_500_000_000).unix_seconds(), 3);
        assert_eq!(Time::default().with_offset(-90), None);
        assert_eq!(Time::default().with_offset(-60 * 40_000), None);
    }
}
