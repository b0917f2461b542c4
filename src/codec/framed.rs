//! Buffered, size-bounded framing shared by the codecs.
//!
//! The wire formats have no length prefix, so a [`FrameReader`] asks a [`Scanner`] where each
//! message ends before anything parses it. The scanner checks every length marker against the
//! limit, so a peer that claims a huge message is refused before a byte is allocated for it, and
//! one read syscall can serve many small messages.

use std::io::{self, Read, Write};
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::error::CodecError;
use crate::transport::Conn;

/// The read buffer's first size; it grows only for a message that does not fit (4 KiB keeps an
/// idle connection small).
const READ_CHUNK: usize = 4 * 1024;
/// A read buffer grown past this is given back once it is empty again.
const KEEP_READ_BUFFER: usize = 256 * 1024;
/// Buffered output is sent once it reaches this size, even if more messages are coming.
const FLUSH_AT: usize = 64 * 1024;
/// A write buffer grown past this is given back after a flush.
const KEEP_WRITE_BUFFER: usize = 256 * 1024;

/// Finds where a message ends.
pub(crate) trait Scanner: Default {
    /// Looks at the bytes of the current message received so far (its first byte first) and
    /// returns its length once it is complete, or `None` to wait for more. It is called again
    /// with the same bytes plus more, and may keep state between calls; it must reset itself
    /// when it returns `Some`. It fails with [`CodecError::TooLarge`] as soon as the message is
    /// known to exceed `limit`.
    fn scan(&mut self, buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError>;

    /// Whether `byte` may stand between messages (JSON's whitespace); skipped unscanned.
    fn is_padding(_byte: u8) -> bool {
        false
    }
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
}

impl<R: Read, S: Scanner> FrameReader<R, S> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanner: S::default(),
            limit,
        }
    }

    /// A writer for the same connection, with the same size limit.
    pub(crate) fn writer(&self) -> Result<FrameWriter<R>, CodecError>
    where
        R: Conn,
    {
        let timeout = self.inner.write_timeout()?;
        Ok(FrameWriter::new(
            self.inner.try_clone()?,
            self.limit,
            timeout,
        ))
    }

    /// Reads the next message and returns where it lies in [`FrameReader::bytes`];
    /// `Ok(None)` at a clean end of stream. The bytes stay valid until the next call.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Range<usize>>, CodecError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_READ_BUFFER {
                self.buf = Vec::new();
            }
        }
        loop {
            while self.start < self.end && S::is_padding(self.buf[self.start]) {
                self.start += 1;
            }
            if self.start < self.end {
                let pending = &self.buf[self.start..self.end];
                if let Some(len) = self.scanner.scan(pending, self.limit)? {
                    let frame = self.start..self.start + len;
                    self.start += len;
                    return Ok(Some(frame));
                }
            }
            if !self.fill()? {
                if self.start == self.end {
                    return Ok(None);
                }
                return Err(CodecError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a message",
                )));
            }
        }
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
                let want = (self.buf.len() * 2).max(READ_CHUNK);
                let cap = self.limit.saturating_add(READ_CHUNK);
                self.buf.resize(want.min(cap).max(self.end + 1), 0);
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

/// Buffers whole messages and writes them in batches.
pub(crate) struct FrameWriter<W> {
    inner: W,
    buf: Vec<u8>,
    limit: usize,
    /// The connection's write timeout, which also bounds each flush as a whole.
    timeout: Option<Duration>,
    /// Set once a write failed: the peer may have half a message, so nothing more may follow.
    broken: bool,
}

impl<W: Write> FrameWriter<W> {
    pub(crate) fn new(inner: W, limit: usize, timeout: Option<Duration>) -> Self {
        FrameWriter {
            inner,
            buf: Vec::new(),
            limit,
            timeout,
            broken: false,
        }
    }

    /// Shuts the connection down in both directions.
    pub(crate) fn shutdown(&self) -> Result<(), CodecError>
    where
        W: Conn,
    {
        Ok(self.inner.shutdown()?)
    }

    /// Appends one message written by `encode`. If `encode` fails or the message is over the
    /// limit, nothing is appended and the error is [`CodecError::Encode`].
    pub(crate) fn push(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        if self.broken {
            return Err(CodecError::Io(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier write on this connection failed",
            )));
        }
        let mark = self.buf.len();
        let result = encode(&mut self.buf).and_then(|()| {
            let size = self.buf.len() - mark;
            if size > self.limit {
                Err(CodecError::Encode(format!(
                    "rpc: message of {size} bytes exceeds the limit of {} bytes",
                    self.limit
                )))
            } else {
                Ok(())
            }
        });
        if result.is_err() {
            self.buf.truncate(mark);
        } else if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        result
    }

    /// Writes everything buffered.
    pub(crate) fn flush(&mut self) -> Result<(), CodecError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.write_buffered().and_then(|()| self.inner.flush());
        self.buf.clear();
        if self.buf.capacity() > KEEP_WRITE_BUFFER {
            self.buf = Vec::new();
        }
        if let Err(e) = result {
            self.broken = true;
            return Err(CodecError::Io(e));
        }
        Ok(())
    }

    /// Writes the whole buffer. The socket's timeout bounds each write; a peer that keeps
    /// taking a few bytes before it runs out would stretch `write_all` without end, so the
    /// timeout also bounds the whole: no write starts after it has passed, so a flush takes
    /// at most about twice the timeout.
    fn write_buffered(&mut self) -> io::Result<()> {
        let deadline = self.timeout.map(|timeout| Instant::now() + timeout);
        let mut sent = 0;
        while sent < self.buf.len() {
            match self.inner.write(&self.buf[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if sent < self.buf.len() && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer took too long to read: nothing more written within the write timeout",
                ));
            }
        }
        Ok(())
    }
}
