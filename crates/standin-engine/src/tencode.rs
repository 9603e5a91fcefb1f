//! TDengine's `SEncoder` / `SDecoder` (`include/util/tencode.h`), the encoding of every
//! message between its nodes and of what `tmq_get_raw` hands a client: fixed-width integers
//! little endian, the `...v` ones LEB128 varints (signed ones zigzagged first), a binary its
//! `u32v` length then the bytes, a C string a binary that includes its NUL. `tStartEncode` /
//! `tEndEncode` frame a nested message as `[i32 length][body]`; a decoder reads a frame's
//! fields in order and stops where the frame ends (`tDecodeIsEnd`), which is how older and
//! newer servers read each other's messages: fields are only ever appended.

use crate::error::TaosError;

/// Builds a message.
#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// `tEncodeU32v` / `tEncodeU64v`.
    pub fn uv(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }

    /// `tEncodeI16v` / `tEncodeI32v` / `tEncodeI64v`: zigzag, then a varint.
    pub fn iv(&mut self, v: i64) -> &mut Self {
        self.uv(((v << 1) ^ (v >> 63)) as u64)
    }

    pub fn binary(&mut self, bytes: &[u8]) -> &mut Self {
        self.uv(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn cstr(&mut self, s: &str) -> &mut Self {
        self.uv(s.len() as u64 + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self
    }

    /// `tStartEncode` ... `tEndEncode`: the body `f` writes, after its length.
    pub fn frame(&mut self, f: impl FnOnce(&mut Encoder)) -> &mut Self {
        let mut inner = Encoder::new();
        f(&mut inner);
        self.i32(i32::try_from(inner.buf.len()).unwrap_or(i32::MAX));
        self.buf.extend_from_slice(&inner.buf);
        self
    }
}

/// Reads a message; every read past the end is an error naming what was read.
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

fn short(what: &str) -> TaosError {
    // TSDB_CODE_INVALID_MSG
    TaosError::new(0x0115, format!("invalid message: {what} runs past the end"))
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder { data, pos: 0 }
    }

    /// `tDecodeIsEnd`.
    pub fn is_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], TaosError> {
        let end = self.pos.checked_add(n).ok_or_else(|| short(what))?;
        let b = self.data.get(self.pos..end).ok_or_else(|| short(what))?;
        self.pos = end;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], TaosError> {
        let b = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, TaosError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn i8(&mut self, what: &str) -> Result<i8, TaosError> {
        Ok(i8::from_le_bytes(self.array(what)?))
    }

    pub fn i16(&mut self, what: &str) -> Result<i16, TaosError> {
        Ok(i16::from_le_bytes(self.array(what)?))
    }

    pub fn i32(&mut self, what: &str) -> Result<i32, TaosError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, TaosError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &str) -> Result<i64, TaosError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, TaosError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn uv(&mut self, what: &str) -> Result<u64, TaosError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(TaosError::new(
            0x0115,
            format!("invalid message: {what} is not a varint"),
        ))
    }

    pub fn iv(&mut self, what: &str) -> Result<i64, TaosError> {
        let z = self.uv(what)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count read as a varint, refused when it could not fit in what is left (each item
    /// takes at least a byte), so a corrupt count cannot make a caller allocate for it.
    pub fn count(&mut self, what: &str) -> Result<usize, TaosError> {
        let n = self.iv(what)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.rest().len())
            .ok_or_else(|| TaosError::new(0x0115, format!("invalid message: {what} is {n}")))
    }

    pub fn binary(&mut self, what: &str) -> Result<&'a [u8], TaosError> {
        let n = self.uv(what)?;
        self.bytes(usize::try_from(n).map_err(|_| short(what))?, what)
    }

    pub fn cstr(&mut self, what: &str) -> Result<String, TaosError> {
        let b = self.binary(what)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    /// `tStartDecode` ... `tEndDecode`: `f` reads the frame's body; what it leaves unread
    /// (fields a newer server appended) is skipped.
    pub fn frame<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Decoder<'a>) -> Result<T, TaosError>,
    ) -> Result<T, TaosError> {
        let len = self.i32(what)?;
        let len = usize::try_from(len).map_err(|_| short(what))?;
        let body = self.bytes(len, what)?;
        f(&mut Decoder::new(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_encoded_decodes_back() {
        let mut e = Encoder::new();
        e.iv(-3).uv(300).cstr("ab").i64(-7).frame(|f| {
            f.i32(5).cstr("appended by a newer server");
        });
        let mut d = Decoder::new(&e.buf);
        assert_eq!(d.iv("a").unwrap(), -3);
        assert_eq!(d.uv("b").unwrap(), 300);
        assert_eq!(d.cstr("c").unwrap(), "ab");
        assert_eq!(d.i64("d").unwrap(), -7);
        assert_eq!(d.frame("f", |f| f.i32("x")).unwrap(), 5);
        assert!(d.is_end());
    }

    #[test]
    fn zigzag_is_taosd_s() {
        // tencode.h ZIGZAGE: (v << 1) ^ (v >> 63); -1 -> 1, 1 -> 2.
        let mut e = Encoder::new();
        e.iv(-1).iv(1).iv(-64);
        assert_eq!(e.buf, vec![1, 2, 127]);
    }

    #[test]
    fn reads_past_the_end_are_errors() {
        let mut d = Decoder::new(&[0x80]);
        assert!(d.uv("v").is_err());
        let mut d = Decoder::new(&[5, 0, 0, 0, 1]);
        assert!(d.frame("f", |f| f.u8("x")).is_err());
        let mut d = Decoder::new(&[200, 1]);
        assert!(d.count("n").is_err());
    }
}
