//! Buffered, size-bounded framing shared by the codecs.
//!
//! The wire formats have no length prefix, so a [`FrameReader`] asks a [`Scanner`] where each
//! message ends before anything parses it. The scanner checks every length marker against the
//! limit, so a peer that claims a huge message is refused before a byte is allocated for it, and
//! one read syscall can serve many small messages. Where the wire lets the reader walk a
//! message as it arrives ([`Skip`]), a message refused can be skipped, its bytes dropped as
//! they come, so that only its own call fails.

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::error::CodecError;
use crate::transport::outbox::Output;
use crate::transport::{read_within, Conn};

/// The read buffer's first size; it grows only for a message that does not fit (4 KiB keeps an
/// idle connection small).
const READ_CHUNK: usize = 4 * 1024;
/// A read buffer grown past this is given back once it is empty again.
const KEEP_READ_BUFFER: usize = 256 * 1024;

/// Finds where a message ends.
pub(crate) trait Scanner: Default {
    /// Looks at the bytes of the current message received so far (its first byte first) and
    /// returns its length once it is complete, or `None` to wait for more. It is called again
    /// with the same bytes plus more, and may keep state between calls; it must reset itself
    /// when it returns `Some`. It fails with [`CodecError::TooLarge`] as soon as the message is
    /// known to exceed `limit`.
    fn scan(&mut self, buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError>;

    /// After a `scan` that waits for more: how long the current message is at least, as far
    /// as its bytes so far tell (0: they do not), so that the reader makes room for it (at
    /// most twice what has arrived: the length is only what the peer claims).
    fn least(&self) -> usize {
        0
    }

    /// Whether `byte` may stand between messages (JSON's whitespace); skipped unscanned.
    fn is_padding(_byte: u8) -> bool {
        false
    }
}

/// A wire whose messages can be walked as they arrive, without keeping them: a tree of values,
/// each a header, then a payload of bytes not looked at, then the values it contains.
pub(crate) trait Skip: Scanner {
    /// The header of the value that `buf` begins with; `Ok(None)` if `buf` holds less than the
    /// whole header.
    fn header(buf: &[u8]) -> Result<Option<Header>, CodecError>;
}

/// The front of one value, as [`Skip::header`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The header's own length in bytes.
    pub(crate) len: usize,
    /// The bytes that follow the header and belong to this value alone.
    pub(crate) payload: u64,
    /// How many values follow those bytes inside this one.
    pub(crate) values: u64,
}

/// Reads whole messages from a stream into one reused buffer.
pub(crate) struct FrameReader<R, S> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[start..end]` holds received bytes not yet returned as a frame.
    start: usize,
    end: usize,
    scanner: S,
    limit: usize,
    /// How long a message may take to arrive whole once its first byte has come: the
    /// connection's read timeout when the reader was made.
    arrival: Option<Duration>,
    /// When the first byte of the message being received came.
    started: Option<Instant>,
    /// The read timeout set while that message arrives: shortened to the time it has left.
    read_timeout: Option<Duration>,
    /// Whether the message at `start` was refused as too large, and may be skipped.
    refused: bool,
}

impl<R: Conn, S: Scanner> FrameReader<R, S> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        let arrival = inner.read_timeout().ok().flatten();
        FrameReader {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanner: S::default(),
            limit,
            arrival,
            started: None,
            read_timeout: arrival,
            refused: false,
        }
    }

    /// The size limit of a message, in bytes.
    #[cfg(any(feature = "json", feature = "gob"))]
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The writing half of the same connection.
    pub(crate) fn output(&self) -> Result<Output, CodecError> {
        Ok(Output::new(&self.inner)?)
    }

    /// Reads the next message and returns where it lies in [`FrameReader::bytes`];
    /// `Ok(None)` at a clean end of stream. The bytes stay valid until the next call.
    /// A message over the limit is [`CodecError::TooLarge`]; it may then be skipped
    /// ([`FrameReader::skip_refused`]).
    pub(crate) fn next_frame(&mut self) -> Result<Option<Range<usize>>, CodecError> {
        self.shrink();
        loop {
            while self.start < self.end && S::is_padding(self.buf[self.start]) {
                self.start += 1;
            }
            if self.start < self.end {
                let pending = &self.buf[self.start..self.end];
                let scanned = self.scanner.scan(pending, self.limit);
                self.refused = matches!(scanned, Err(CodecError::TooLarge { .. }));
                if let Some(len) = scanned? {
                    let frame = self.start..self.start + len;
                    self.start += len;
                    self.arrived()?;
                    return Ok(Some(frame));
                }
                self.check_arrival()?;
            }
            if !self.fill()? {
                if self.start == self.end {
                    return Ok(None);
                }
                return Err(in_the_middle());
            }
        }
    }

    /// Gives back a buffer grown for a large message once what it holds would fit a small
    /// one, so that an idle connection holds little.
    fn shrink(&mut self) {
        let pending = self.end - self.start;
        if pending == 0 {
            (self.start, self.end) = (0, 0);
        }
        if self.buf.len() <= KEEP_READ_BUFFER || pending > KEEP_READ_BUFFER / 2 {
            return;
        }
        let mut small = Vec::new();
        if pending > 0 {
            small.resize(pending.next_power_of_two().max(READ_CHUNK), 0);
            small[..pending].copy_from_slice(&self.buf[self.start..self.end]);
        }
        (self.buf, self.start, self.end) = (small, 0, pending);
    }

    /// Ends the wait for the message that has just come whole.
    fn arrived(&mut self) -> Result<(), CodecError> {
        self.started = None;
        if self.read_timeout != self.arrival {
            self.inner.set_read_timeout(self.arrival)?;
            self.read_timeout = self.arrival;
        }
        Ok(())
    }

    /// Skips the message that [`FrameReader::next_frame`] has just refused as too large,
    /// dropping its bytes as they arrive (within the read timeout, as any message), and
    /// returns its size; the next frame is the message after it. `None` if the last message
    /// was not refused.
    pub(crate) fn skip_refused(&mut self) -> Result<Option<u64>, CodecError>
    where
        S: Skip,
    {
        if !std::mem::take(&mut self.refused) {
            return Ok(None);
        }
        self.scanner = S::default();
        // Bytes dropped, bytes of the current value's payload still to drop, values to come.
        let (mut size, mut payload, mut owed) = (0u64, 0u64, 1u64);
        loop {
            let dropped = payload.min((self.end - self.start) as u64);
            self.start += dropped as usize;
            size += dropped;
            payload -= dropped;
            if payload == 0 {
                if owed == 0 {
                    self.arrived()?;
                    return Ok(Some(size));
                }
                if let Some(header) = S::header(&self.buf[self.start..self.end])? {
                    self.start += header.len;
                    size += header.len as u64;
                    payload = header.payload;
                    owed = owed - 1 + header.values;
                    continue;
                }
            }
            self.check_arrival()?;
            self.keep_only_pending();
            if !self.fill()? {
                return Err(in_the_middle());
            }
        }
    }

    /// Moves what is left of a message being skipped, at most the front of a header, to the
    /// start of a buffer no larger than an idle connection keeps.
    fn keep_only_pending(&mut self) {
        let pending = self.end - self.start;
        if self.buf.len() > KEEP_READ_BUFFER {
            let mut small = vec![0; KEEP_READ_BUFFER];
            small[..pending].copy_from_slice(&self.buf[self.start..self.end]);
            self.buf = small;
        } else {
            self.buf.copy_within(self.start..self.end, 0);
        }
        (self.start, self.end) = (0, pending);
    }

    /// Fails once a message has taken longer than the read timeout to arrive since its first
    /// byte, and keeps the next read from outlasting that: each read's timeout alone would let
    /// a byte per timeout hold the reader forever.
    fn check_arrival(&mut self) -> Result<(), CodecError> {
        let (Some(limit), Some(read_timeout)) = (self.arrival, self.read_timeout.as_mut()) else {
            return Ok(());
        };
        let started = *self.started.get_or_insert_with(Instant::now);
        if started.elapsed() > limit {
            return Err(CodecError::Io(io::Error::other(format!(
                "a message did not arrive whole within the read timeout ({limit:?}) of its first byte"
            ))));
        }
        read_within(&self.inner, read_timeout, started + limit)?;
        Ok(())
    }

    /// The bytes received and not yet returned as a frame: the front of the message being
    /// received.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The scanner, which may tell more of the frame it last found.
    #[cfg(feature = "json")]
    pub(crate) fn scanner(&self) -> &S {
        &self.scanner
    }

    /// Puts `bytes`, at least as long as `frame`, in the place of `frame`, the frame
    /// [`FrameReader::next_frame`] has just returned, and returns where they lie. The frames
    /// before it are done with: `bytes` go where they end at the frame's end, over those, so
    /// that nothing after the frame moves. Only where they leave too little room (the frame
    /// is near the front of the buffer, as after each refill) are the bytes received past the
    /// frame moved, once.
    #[cfg(feature = "json")]
    pub(crate) fn replace_frame(&mut self, frame: Range<usize>, bytes: &[u8]) -> Range<usize> {
        debug_assert!(frame.end == self.start && bytes.len() >= frame.len());
        if let Some(start) = frame.end.checked_sub(bytes.len()) {
            self.buf[start..frame.end].copy_from_slice(bytes);
            return start..frame.end;
        }
        let grow = bytes.len() - frame.len();
        self.buf.truncate(self.end);
        self.buf
            .splice(frame.end..frame.end, std::iter::repeat_n(0, grow));
        self.buf[frame.start..frame.start + bytes.len()].copy_from_slice(bytes);
        self.start += grow;
        self.end += grow;
        frame.start..frame.start + bytes.len()
    }

    /// How many bytes the read buffer holds, received or room for them.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// The bytes of a frame returned by [`FrameReader::next_frame`].
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Reads more bytes after `end`; `false` at end of stream.
    fn fill(&mut self) -> Result<bool, CodecError> {
        let pending = self.end - self.start;
        if pending > self.limit {
            // The scanner refuses over-limit messages first; this is a second line of defence.
            self.refused = true;
            return Err(CodecError::TooLarge {
                size: pending as u64,
                limit: self.limit,
            });
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.start = 0;
                self.end = pending;
            }
            if self.end == self.buf.len() {
                // Room for the message where its length is known, else an eighth more (a chunk
                // at least): doubling would hold up to twice a large message, and an allocation
                // that large makes glibc keep as much free for reuse after it. A length is only
                // what the peer claims, though: the buffer at most doubles what has arrived.
                let grown = self.end + (self.end / 8).max(READ_CHUNK);
                let doubled = (self.end * 2).max(READ_CHUNK);
                let least = if pending > 0 { self.scanner.least() } else { 0 };
                let want = least.min(doubled).max(grown);
                let cap = self.limit.saturating_add(READ_CHUNK);
                let size = want.min(cap).max(self.end + 1);
                // `resize` alone would round up to twice the buffer.
                self.buf.reserve_exact(size - self.buf.len());
                self.buf.resize(size, 0);
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CodecError::Io(e)),
            }
        }
    }
}

fn in_the_middle() -> CodecError {
    CodecError::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed in the middle of a message",
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io::{Read, Write};

    use super::*;
    #[cfg(feature = "gob")]
    use crate::wire::gob::GobScanner;
    use crate::wire::msgpack::MsgpackScanner;

    /// A stream that yields its chunks, each read at most one, then ends.
    struct Chunks(VecDeque<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(chunk) = self.0.front_mut() else {
                return Ok(0);
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            if chunk.is_empty() {
                self.0.pop_front();
            }
            Ok(n)
        }
    }

    impl Write for Chunks {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Conn for Chunks {
        fn try_clone(&self) -> io::Result<Self> {
            Ok(Chunks(VecDeque::new()))
        }

        fn shutdown(&self) -> io::Result<()> {
            Ok(())
        }

        fn peer(&self) -> String {
            "chunks".to_owned()
        }
    }

    /// A MessagePack-RPC response to call `seq` whose result is `len` bytes.
    fn response(seq: u8, len: usize) -> Vec<u8> {
        let mut message = vec![0x94, 0x01, seq, 0xc0];
        rmp::encode::write_bin(&mut message, &vec![7; len]).unwrap();
        message
    }

    /// A reader of `chunks`, each cut in pieces of 64 KiB at most.
    fn reader(limit: usize, chunks: &[&[u8]]) -> FrameReader<Chunks, MsgpackScanner> {
        let pieces = chunks.iter().flat_map(|chunk| chunk.chunks(64 << 10));
        FrameReader::new(Chunks(pieces.map(<[u8]>::to_vec).collect()), limit)
    }

    #[test]
    fn a_message_over_the_limit_is_skipped_without_being_kept() {
        let (large, small) = (response(1, 10 << 20), response(2, 10));
        let mut frames = reader(1 << 20, &[&large, &small]);
        let refused = frames.next_frame();
        assert!(
            matches!(refused, Err(CodecError::TooLarge { .. })),
            "{refused:?}"
        );
        assert_eq!(frames.skip_refused().unwrap(), Some(large.len() as u64));
        assert!(
            frames.buffered() <= KEEP_READ_BUFFER,
            "{}",
            frames.buffered()
        );
        let next = frames.next_frame().unwrap().unwrap();
        assert_eq!(frames.bytes(next), small);
        assert_eq!(frames.next_frame().unwrap(), None);
    }

    #[test]
    fn the_buffer_grown_for_a_large_message_is_given_back() {
        let (large, small) = (response(1, 10 << 20), response(2, 10));
        // The next message's first bytes come with the large one's last.
        let (end, rest) = small.split_at(4);
        let mut frames = reader(64 << 20, &[&[&large[..], end].concat(), rest]);
        assert_eq!(frames.next_frame().unwrap().unwrap().len(), large.len());
        assert_eq!(frames.next_frame().unwrap().unwrap().len(), small.len());
        assert!(
            frames.buffered() <= KEEP_READ_BUFFER,
            "{}",
            frames.buffered()
        );
    }

    /// A gob message of `len` bytes, its length prefix first.
    #[cfg(feature = "gob")]
    fn gob_message(len: usize) -> Vec<u8> {
        let mut message = Vec::new();
        crate::encoding::gob::write_message_len(&mut message, len);
        message.extend(std::iter::repeat_n(7u8, len));
        message
    }

    #[test]
    #[cfg(feature = "gob")]
    fn the_gob_buffer_grown_for_a_large_message_is_given_back() {
        let (large, small) = (gob_message(10 << 20), vec![3u8, 1, 2, 3]);
        let pieces = large.chunks(64 << 10).chain([&small[..]]);
        let mut frames: FrameReader<Chunks, GobScanner> =
            FrameReader::new(Chunks(pieces.map(<[u8]>::to_vec).collect()), 64 << 20);
        assert_eq!(frames.next_frame().unwrap().unwrap().len(), large.len());
        let next = frames.next_frame().unwrap().unwrap();
        assert_eq!(frames.bytes(next), small);
        assert!(
            frames.buffered() <= KEEP_READ_BUFFER,
            "{}",
            frames.buffered()
        );
    }

    /// Reads `claim`, the front of a message that claims far more, from a peer that then
    /// stalls, and checks that the reader holds at most twice what came.
    fn assert_a_claim_costs_little<S: Scanner>(claim: Vec<u8>) {
        let sent = claim.len();
        let mut frames: FrameReader<Chunks, S> = FrameReader::new(Chunks([claim].into()), 64 << 20);
        assert!(frames.next_frame().is_err(), "the message never came whole");
        assert!(
            frames.buffered() <= 2 * sent,
            "{} buffered for {sent} bytes sent",
            frames.buffered()
        );
    }

    #[test]
    fn a_claimed_length_costs_no_more_than_twice_the_bytes_sent() {
        // A request claiming 60 MiB of argument, of which 8 KiB arrive.
        let mut claim = vec![0x94, 0x00, 0x07, 0xa1, b'M', 0x91, 0xc6];
        claim.extend_from_slice(&(60u32 << 20).to_be_bytes());
        claim.extend_from_slice(&[0; 8192]);
        assert_a_claim_costs_little::<MsgpackScanner>(claim);
    }

    #[test]
    #[cfg(feature = "gob")]
    fn a_claimed_gob_length_costs_no_more_than_twice_the_bytes_sent() {
        let mut claim = gob_message(60 << 20);
        claim.truncate(8192);
        assert_a_claim_costs_little::<GobScanner>(claim);
    }

    #[test]
    fn a_large_message_gets_little_more_room_than_itself() {
        // Its params: 10 MiB, then 100 bytes whose length comes to light only after those.
        let mut large = vec![0x94, 0x00, 0x01, 0xa1, b'M', 0x92];
        rmp::encode::write_bin(&mut large, &vec![7; 10 << 20]).unwrap();
        rmp::encode::write_bin(&mut large, &[8; 100]).unwrap();
        let mut frames = reader(64 << 20, &[&large]);
        assert_eq!(frames.next_frame().unwrap().unwrap().len(), large.len());
        assert!(
            frames.buffered() <= large.len() + large.len() / 8 + READ_CHUNK,
            "{} for a message of {}",
            frames.buffered(),
            large.len()
        );
    }
}
