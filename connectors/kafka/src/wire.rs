//! The Confluent wire format: byte 0 is the magic 0, bytes 1–4 the big-endian schema id, then
//! the Avro binary body.

/// Why a value is not a Confluent-framed Avro value.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer than the five header bytes.
    #[error("value is {0} bytes, shorter than the 5-byte Confluent header")]
    TooShort(usize),
    /// The first byte is not the magic 0.
    #[error("value starts with byte {0}, not the Confluent magic byte 0")]
    BadMagic(u8),
}

/// Splits a framed value into its schema id and its Avro body.
pub fn split_frame(value: &[u8]) -> Result<(u32, &[u8]), FrameError> {
    match value {
        [0, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        [magic, _, _, _, _, ..] => Err(FrameError::BadMagic(*magic)),
        short => Err(FrameError::TooShort(short.len())),
    }
}

/// Frames an Avro body written under schema `schema_id`.
pub fn frame(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(5 + body.len());
    framed.push(0);
    framed.extend_from_slice(&schema_id.to_be_bytes());
    framed.extend_from_slice(body);
    framed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_value_splits_back_into_id_and_body() {
        let framed = frame(0x0102_0304, b"avro");
        assert_eq!(framed[..5], [0, 1, 2, 3, 4]);
        assert_eq!(split_frame(&framed), Ok((0x0102_0304, &b"avro"[..])));
        assert_eq!(split_frame(&frame(7, b"")), Ok((7, &b""[..])));
    }

    #[test]
    fn short_values_and_other_magic_bytes_are_refused() {
        assert_eq!(split_frame(&[0, 0, 0, 1]), Err(FrameError::TooShort(4)));
        assert_eq!(split_frame(b""), Err(FrameError::TooShort(0)));
        assert_eq!(split_frame(&[1, 0, 0, 0, 1, 9]), Err(FrameError::BadMagic(1)));
    }
}
