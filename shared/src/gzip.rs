//! gzip answers assembled from stored deflate blocks, close to a copy.
//!
//! A raw deflate stream that ends on a *sync flush* stops on a byte
//! boundary without a final block, so such streams can be laid end to end
//! and still form one valid deflate stream. The store keeps each shard's
//! JSON that way, with the CRC-32 and length of its uncompressed bytes;
//! an answer is then a gzip header, a few literal bytes of our own (stored
//! blocks: no compressor needed), the shards' blocks as they were stored,
//! an empty final block and the CRC-32 of the whole, combined from the
//! parts' CRCs without reading their bytes (RFC 1951 §3.2.4, RFC 1952).
//!
//! Whole bodies go through [`encode`] and [`decode`]: one gzip member each.

use std::io::{Read, Write};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// `body` as one gzip member, at the fast level.
pub fn encode(body: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    encoder
        .write_all(body)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// A gzip body inflated; an error when it is not gzip.
pub fn decode(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut inflated = Vec::with_capacity(body.len() * 4);
    flate2::read::GzDecoder::new(body).read_to_end(&mut inflated)?;
    Ok(inflated)
}

/// One piece of a deflate stream: `block` is raw deflate that ends on a
/// sync flush; `crc32` and `len` describe the bytes it inflates to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub block: Vec<u8>,
    pub crc32: u32,
    pub len: u64,
}

impl Block {
    /// Compresses `data` (the fast level: at these sizes it compresses
    /// nearly as well as the default at a fraction of the CPU).
    pub fn compress(data: &[u8]) -> Self {
        let mut compressor = Compress::new(Compression::fast(), false);
        let mut out = Vec::with_capacity(data.len() / 4 + 64);
        loop {
            let done = compressor.total_in() as usize;
            compressor
                .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                .expect("deflate into a Vec cannot fail");
            // The flush is complete once all input is in and the output
            // did not fill up (a full buffer may hold back flush bytes).
            if compressor.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(1024));
        }
        Self {
            block: out,
            crc32: crc32fast::hash(data),
            len: data.len() as u64,
        }
    }

    /// The bytes this block inflates to, checked against its length and CRC.
    pub fn inflate(&self) -> Result<Vec<u8>, String> {
        let expected = usize::try_from(self.len).map_err(|_| "block length overflows")?;
        let mut inflater = Decompress::new(false);
        // One byte of room past the declared length: a block that inflates
        // to more than it says is caught instead of growing without bound.
        let mut out = Vec::with_capacity(expected + 1);
        loop {
            let done = inflater.total_in() as usize;
            let status = inflater
                .decompress_vec(&self.block[done..], &mut out, FlushDecompress::Sync)
                .map_err(|err| format!("not a deflate block: {err}"))?;
            if out.len() > expected {
                return Err(format!("block inflates past its {expected} bytes"));
            }
            let consumed = inflater.total_in() as usize;
            if consumed == self.block.len() || status == Status::StreamEnd {
                break;
            }
            if consumed == done && out.len() == out.capacity() {
                return Err(format!("block inflates past its {expected} bytes"));
            }
            if consumed == done {
                return Err("deflate block is truncated".to_owned());
            }
        }
        if out.len() != expected {
            return Err(format!(
                "block inflates to {} bytes, not the {expected} it declares",
                out.len()
            ));
        }
        if crc32fast::hash(&out) != self.crc32 {
            return Err("block fails its CRC-32".to_owned());
        }
        Ok(out)
    }
}

/// Builds one gzip member from literal bytes and stored [`Block`]s.
pub struct GzipWriter {
    out: Vec<u8>,
    crc: crc32fast::Hasher,
}

/// gzip magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A stored block holds at most this many bytes.
const STORED_MAX: usize = u16::MAX as usize;

impl GzipWriter {
    pub fn with_capacity(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + HEADER.len() + 16);
        out.extend_from_slice(&HEADER);
        Self {
            out,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Appends `data` uncompressed, as stored blocks: our own few bytes
    /// (brackets, commas, the head's fields) are not worth a compressor.
    pub fn literal(&mut self, data: &[u8]) {
        for chunk in data.chunks(STORED_MAX) {
            self.stored_block(false, chunk);
        }
        self.crc.update(data);
    }

    /// Appends a block as it was stored.
    pub fn block(&mut self, block: &Block) {
        self.out.extend_from_slice(&block.block);
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            block.crc32,
            block.len,
        ));
    }

    /// Closes the stream (an empty final block) and appends the trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.stored_block(true, &[]);
        let len = self.crc.total_len();
        let crc = self.crc.finalize();
        self.out.extend_from_slice(&crc.to_le_bytes());
        // ISIZE is the length modulo 2^32, as RFC 1952 defines it.
        self.out.extend_from_slice(&(len as u32).to_le_bytes());
        self.out
    }

    /// Every piece before this one ends byte-aligned (a sync flush or a
    /// stored block), so the 3 header bits sit in a byte of their own.
    fn stored_block(&mut self, last: bool, data: &[u8]) {
        let len = data.len() as u16;
        self.out.push(u8::from(last));
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(&(!len).to_le_bytes());
        self.out.extend_from_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn blocks_and_literals_make_one_valid_gzip_member() {
        let a = Block::compress(br#"{"a":1},{"a":2}"#);
        let b = Block::compress(&br#"{"b":"x"},"#.repeat(5000));
        let mut writer = GzipWriter::with_capacity(1024);
        writer.literal(b"[");
        writer.block(&a);
        writer.literal(b",");
        writer.block(&b);
        writer.literal(b"]");
        let mut expected = br#"[{"a":1},{"a":2},"#.to_vec();
        expected.extend(br#"{"b":"x"},"#.repeat(5000));
        expected.push(b']');
        assert_eq!(gunzip(&writer.finish()), expected);
    }

    #[test]
    fn an_empty_member_and_a_long_literal_are_valid() {
        assert_eq!(gunzip(&GzipWriter::with_capacity(0).finish()), b"");
        let long = vec![b'x'; 3 * STORED_MAX + 7];
        let mut writer = GzipWriter::with_capacity(long.len());
        writer.literal(&long);
        assert_eq!(gunzip(&writer.finish()), long);
    }

    #[test]
    fn a_block_inflates_to_what_was_compressed() {
        for data in [&b""[..], b"x", &b"queue statistics ".repeat(10_000)] {
            assert_eq!(Block::compress(data).inflate().unwrap(), data);
        }
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let good = Block::compress(&b"queue statistics ".repeat(100));
        let lying = Block {
            len: good.len - 1,
            ..good.clone()
        };
        assert!(lying.inflate().is_err());
        let bad_crc = Block {
            crc32: good.crc32 ^ 1,
            ..good.clone()
        };
        assert!(bad_crc.inflate().is_err());
        let truncated = Block {
            block: good.block[..good.block.len() / 2].to_vec(),
            ..good.clone()
        };
        assert!(truncated.inflate().is_err());
        let garbage = Block {
            block: vec![0xff; 64],
            ..good
        };
        assert!(garbage.inflate().is_err());
    }
}
