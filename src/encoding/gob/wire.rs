//! Gob's primitive encodings: unsigned and signed integers, floats and counted byte strings.
//!
//! Writing appends to a `Vec<u8>`; reading goes through a [`Reader`] over one message, which
//! checks every length against the bytes that remain before anything is allocated.

use super::error::GobError;

/// Appends `x` as a gob unsigned integer: one byte below 128, else the byte count negated
/// followed by the big-endian bytes.
pub(crate) fn put_uint(out: &mut Vec<u8>, x: u64) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let bytes = x.to_be_bytes();
    let skip = (x.leading_zeros() / 8) as usize;
    let n = 8 - skip;
    out.push((n as u8).wrapping_neg());
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends `x` as a gob signed integer: bit 0 says whether the rest is complemented.
pub(crate) fn put_int(out: &mut Vec<u8>, x: i64) {
    let u = if x < 0 {
        (!(x as u64) << 1) | 1
    } else {
        (x as u64) << 1
    };
    put_uint(out, u);
}

/// Appends `x` as a gob float: the IEEE-754 bits byte-reversed, sent as an unsigned integer.
pub(crate) fn put_float(out: &mut Vec<u8>, x: f64) {
    put_uint(out, x.to_bits().swap_bytes());
}

/// Appends a count followed by the bytes themselves (strings and `[]byte`).
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The length of `x` encoded as a gob unsigned integer.
pub(crate) fn uint_len(x: u64) -> usize {
    if x < 0x80 {
        1
    } else {
        1 + 8 - (x.leading_zeros() / 8) as usize
    }
}

/// Decodes an unsigned integer from the front of `buf`: `Ok(None)` while it is incomplete,
/// else the value and how many bytes it took.
pub(crate) fn parse_uint(buf: &[u8]) -> Result<Option<(u64, usize)>, GobError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((u64::from(first), 1)));
    }
    let n = first.wrapping_neg() as usize;
    if n > 8 {
        return Err(GobError::malformed(format!(
            "an unsigned integer claims {n} bytes (at most 8)"
        )));
    }
    if buf.len() < 1 + n {
        return Ok(None);
    }
    let mut x = 0u64;
    for &b in &buf[1..=n] {
        x = (x << 8) | u64::from(b);
    }
    Ok(Some((x, 1 + n)))
}

/// Decodes the signed integer held in the unsigned integer `u`.
pub(crate) fn int_from_uint(u: u64) -> i64 {
    if u & 1 == 1 {
        !(u >> 1) as i64
    } else {
        (u >> 1) as i64
    }
}

/// A cursor over one gob message.
#[derive(Clone)]
pub(crate) struct Reader<'de> {
    buf: &'de [u8],
    pos: usize,
}

impl<'de> Reader<'de> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'de [u8]) -> Reader<'de> {
        Reader { buf, pos: 0 }
    }

    /// The bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not read yet.
    pub(crate) fn unread(&self) -> &'de [u8] {
        &self.buf[self.pos..]
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Reads an unsigned integer.
    pub(crate) fn uint(&mut self) -> Result<u64, GobError> {
        match parse_uint(&self.buf[self.pos..])? {
            Some((x, n)) => {
                self.pos += n;
                Ok(x)
            }
            None => Err(GobError::truncated()),
        }
    }

    /// Reads a signed integer.
    pub(crate) fn int(&mut self) -> Result<i64, GobError> {
        self.uint().map(int_from_uint)
    }

    /// Reads a float.
    pub(crate) fn float(&mut self) -> Result<f64, GobError> {
        self.uint().map(|u| f64::from_bits(u.swap_bytes()))
    }

    /// Reads a boolean (an unsigned integer that must be 0 or 1).
    pub(crate) fn bool(&mut self) -> Result<bool, GobError> {
        match self.uint()? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(GobError::malformed(format!("invalid boolean value {n}"))),
        }
    }

    /// Reads a count that must not exceed the bytes left (each counted thing takes at least
    /// one byte), so that no caller can be made to allocate more than the message holds.
    pub(crate) fn count(&mut self) -> Result<usize, GobError> {
        let n = self.uint()?;
        if n > self.remaining() as u64 {
            return Err(GobError::malformed(format!(
                "a count of {n} exceeds the {} bytes left in the message",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    /// Reads `n` raw bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'de [u8], GobError> {
        if n > self.remaining() {
            return Err(GobError::truncated());
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    /// Reads a counted byte string (a string or a `[]byte`).
    pub(crate) fn bytes(&mut self) -> Result<&'de [u8], GobError> {
        let n = self.count()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uint_bytes(x: u64) -> Vec<u8> {
        let mut v = Vec::new();
        put_uint(&mut v, x);
        v
    }

    fn int_bytes(x: i64) -> Vec<u8> {
        let mut v = Vec::new();
        put_int(&mut v, x);
        v
    }

    #[test]
    fn unsigned_integers_match_the_go_documentation() {
        assert_eq!(uint_bytes(0), [0x00]);
        assert_eq!(uint_bytes(7), [0x07]);
        assert_eq!(uint_bytes(127), [0x7f]);
        assert_eq!(uint_bytes(128), [0xff, 0x80]);
        assert_eq!(uint_bytes(256), [0xfe, 0x01, 0x00]);
        assert_eq!(
            uint_bytes(u64::MAX),
            [0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        for x in [0, 1, 127, 128, 255, 256, 65535, 1 << 40, u64::MAX] {
            let b = uint_bytes(x);
            assert_eq!(b.len(), uint_len(x));
            assert_eq!(parse_uint(&b).unwrap(), Some((x, b.len())));
            assert_eq!(parse_uint(&b[..b.len() - 1]).unwrap(), None);
        }
    }

    #[test]
    fn signed_integers_match_the_go_documentation() {
        assert_eq!(int_bytes(-129), [0xfe, 0x01, 0x01]);
        assert_eq!(int_bytes(22), [0x2c]);
        assert_eq!(int_bytes(-65), [0xff, 0x81]);
        assert_eq!(int_bytes(65), [0xff, 0x82]);
        for x in [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN] {
            let b = int_bytes(x);
            assert_eq!(Reader::new(&b).int().unwrap(), x);
        }
    }

    #[test]
    fn floats_are_byte_reversed() {
        let mut v = Vec::new();
        put_float(&mut v, 17.0);
        assert_eq!(v, [0xfe, 0x31, 0x40]);
        for x in [0.0, -0.0, 1.5, f64::MAX, f64::MIN_POSITIVE, f64::INFINITY] {
            let mut v = Vec::new();
            put_float(&mut v, x);
            assert_eq!(Reader::new(&v).float().unwrap().to_bits(), x.to_bits());
        }
    }

    #[test]
    fn counts_cannot_exceed_the_message() {
        let mut r = Reader::new(&[0x05, 1, 2]);
        assert!(r.bytes().is_err());
        let mut r = Reader::new(&[0xf7]);
        assert!(r.uint().is_err());
        let mut r = Reader::new(&[0xfe, 0x01]);
        assert!(r.uint().is_err());
    }
}
