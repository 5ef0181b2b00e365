//! A layer blob opened as a verified, uncompressed tar stream.
//!
//! Bytes flow: stored blob -> [`RawTap`] (hashes the blob as stored) -> 256 KiB buffer ->
//! gzip/zstd decoder chosen by the blob's magic bytes -> [`LayerStream`] (hashes the tar for the
//! diff id, spends the unpack budget, watches for the tar's end block). Every layer byte is read
//! from disk once, decompressed once and hashed once per digest that names it.

use std::io::{self, BufRead, BufReader, Read};

use crowsnest_model::Digest;

use super::compression::Compression;
use super::content_hash::{self, ContentHasher};
use super::tar_end::TarEnd;
use super::{LayerDescriptor, UnpackBudget};
use crate::ImageError;

/// Read buffer size for layer blobs and for draining: large enough that per-call overhead
/// (syscalls, dynamic dispatch, atomics) vanishes next to decompression and hashing.
pub const LAYER_BUFFER_BYTES: usize = 256 * 1024;

/// Hashes the stored bytes on their way to the decoder.
struct RawTap<'a> {
    inner: Box<dyn Read + Send + 'a>,
    hasher: ContentHasher,
    bytes: u64,
    /// Set when the underlying read failed, so decoder errors caused by I/O are not blamed on
    /// the layer's compression.
    io_failed: bool,
}

impl Read for RawTap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(buf.get(..n).unwrap_or_default());
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.io_failed = true;
                }
                Err(e)
            }
        }
    }
}

type Buffered<'a> = BufReader<RawTap<'a>>;

enum Decoded<'a> {
    Plain(Buffered<'a>),
    // Boxed: the inflate state is large, and the enum is moved around by value.
    Gzip(Box<flate2::bufread::MultiGzDecoder<Buffered<'a>>>),
    Zstd(zstd::stream::read::Decoder<'static, Buffered<'a>>),
}

impl<'a> Decoded<'a> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
            Decoded::Zstd(r) => r.read(buf),
        }
    }

    fn buffered(&mut self) -> &mut Buffered<'a> {
        match self {
            Decoded::Plain(r) => r,
            Decoded::Gzip(r) => r.get_mut(),
            Decoded::Zstd(r) => r.get_mut(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamState {
    Open,
    Finished,
    Failed,
}

/// An uncompressed layer tar that verifies itself. See [`super::ImageSource::open_layer`].
pub(crate) struct LayerStream<'a> {
    decoded: Decoded<'a>,
    layer: usize,
    compression: Compression,
    digest: Digest,
    /// The diff id hash, absent when the diff id is unknown or equals the blob digest (an
    /// uncompressed blob, where the raw hash already covers it).
    diff: Option<(ContentHasher, Digest)>,
    budget: UnpackBudget,
    tar_end: TarEnd,
    unpacked: u64,
    state: StreamState,
    span: tracing::Span,
}

impl<'a> LayerStream<'a> {
    /// Wraps the stored bytes `raw` of layer `layer`.
    pub(crate) fn new(
        raw: Box<dyn Read + Send + 'a>,
        layer: usize,
        descriptor: &LayerDescriptor,
        budget: &UnpackBudget,
    ) -> Result<Self, ImageError> {
        let span = tracing::info_span!("layer", index = layer, digest = %descriptor.digest);
        let tap = RawTap {
            inner: raw,
            hasher: ContentHasher::for_digest(&descriptor.digest),
            bytes: 0,
            io_failed: false,
        };
        let mut buffered = BufReader::with_capacity(LAYER_BUFFER_BYTES, tap);
        let head = buffered
            .fill_buf()
            .map_err(|e| ImageError::io(format!("reading layer {layer}"), e))?;
        let compression = Compression::sniff(head);
        if let Some(name) = Compression::unsupported(head) {
            return Err(ImageError::CorruptLayer {
                layer,
                reason: format!("{name} compression is not supported"),
            });
        }
        let decoded = match compression {
            Compression::None => Decoded::Plain(buffered),
            Compression::Gzip => {
                Decoded::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
            }
            Compression::Zstd => Decoded::Zstd(
                zstd::stream::read::Decoder::with_buffer(buffered)
                    .map_err(|e| ImageError::io("starting zstd decoder", e))?,
            ),
        };
        let diff = descriptor
            .diff_id
            .as_ref()
            .filter(|d| !(compression == Compression::None && **d == descriptor.digest))
            .map(|d| (ContentHasher::for_digest(d), d.clone()));
        span.in_scope(|| tracing::debug!(?compression, size = descriptor.size, "layer opened"));
        Ok(LayerStream {
            decoded,
            layer,
            compression,
            digest: descriptor.digest.clone(),
            diff,
            budget: budget.clone(),
            tar_end: TarEnd::default(),
            unpacked: 0,
            state: StreamState::Open,
            span,
        })
    }

    /// Counts and hashes uncompressed bytes handed out (or drained).
    fn account(&mut self, bytes: &[u8]) -> Result<(), ImageError> {
        self.unpacked += bytes.len() as u64;
        if let Some((hasher, _)) = &mut self.diff {
            hasher.update(bytes);
        }
        self.budget.spend(bytes.len() as u64)
    }

    /// The error for a failed read of the decoded stream.
    fn decode_error(&mut self, error: io::Error) -> ImageError {
        let io_failed = self.decoded.buffered().get_ref().io_failed;
        if io_failed || self.compression == Compression::None {
            ImageError::io(format!("reading layer {}", self.layer), error)
        } else {
            ImageError::CorruptLayer {
                layer: self.layer,
                reason: format!("{:?} stream: {error}", self.compression),
            }
        }
    }

    /// Reads whatever is left, then compares both digests.
    fn finish(&mut self) -> Result<(), ImageError> {
        let mut scratch = vec![0u8; LAYER_BUFFER_BYTES];
        loop {
            let n = match self.decoded.read(&mut scratch) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.decode_error(e)),
            };
            self.account(scratch.get(..n).unwrap_or_default())?;
        }
        // Anything after the compressed stream is part of the blob and its digest.
        let layer = self.layer;
        io::copy(self.decoded.buffered(), &mut io::sink())
            .map_err(|e| ImageError::io(format!("reading layer {layer}"), e))?;
        let tap = self.decoded.buffered().get_mut();
        let raw = std::mem::replace(&mut tap.hasher, ContentHasher::for_digest(&self.digest));
        let raw_bytes = tap.bytes;
        content_hash::verify(&format!("layer {layer} blob"), &self.digest, &raw.finish())?;
        if let Some((hasher, expected)) = self.diff.take() {
            content_hash::verify(
                &format!("layer {layer} diff id"),
                &expected,
                &hasher.finish(),
            )?;
        }
        tracing::debug!(
            raw_bytes,
            unpacked = self.unpacked,
            tar_end_followed = !self.tar_end.is_lost(),
            "layer verified"
        );
        Ok(())
    }

    fn finish_once(&mut self) -> io::Result<()> {
        match self.finish() {
            Ok(()) => {
                self.state = StreamState::Finished;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, error: ImageError) -> io::Error {
        self.state = StreamState::Failed;
        tracing::warn!(layer = self.layer, %error, "layer stream failed");
        io::Error::other(error)
    }
}

impl Read for LayerStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            StreamState::Open => {}
            StreamState::Finished => return Ok(0),
            StreamState::Failed => {
                return Err(io::Error::other(ImageError::CorruptLayer {
                    layer: self.layer,
                    reason: "read after the stream already failed".into(),
                }))
            }
        }
        let span = self.span.clone();
        let _entered = span.enter();
        let n = match self.decoded.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let error = self.decode_error(e);
                return Err(self.fail(error));
            }
        };
        if n == 0 {
            self.finish_once()?;
            return Ok(0);
        }
        let chunk = buf.get(..n).unwrap_or_default();
        if let Err(e) = self.account(chunk) {
            return Err(self.fail(e));
        }
        if self.tar_end.feed(chunk) {
            // The tar reader will stop here; verify now so a mismatch still reaches it.
            self.finish_once()?;
        }
        Ok(n)
    }
}
