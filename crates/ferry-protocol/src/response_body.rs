//! The response body after a `session` head (loaders/PROTOCOL.md §2.3, §2.4): the state machine
//! that takes the body off a buffer as the head's [`Framing`] says, and knows when the body has
//! ended and whether the connection is then at a request boundary.
//!
//! The front end's reader owns the connection: it reads into the buffer, asks [`Decoder::next`]
//! for the next piece, and reads more on [`Piece::NeedMore`].

use bytes::{Buf, Bytes, BytesMut};

use crate::response_head::{Chunked, Decoded, Framing, HeadError};

/// Decodes the response body after the head, as the head's framing says.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    chunked: Chunked,
    /// Bytes of a `Content-Length` body not yet taken.
    remaining: u64,
}

/// What the decoder took off the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End {
        /// The connection is at a request boundary: it may carry another request.
        reusable: bool,
    },
    /// The buffer holds no more of the body: read more, then ask again.
    NeedMore,
}

/// The connection closed before the body was complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the app closed the connection before the response body was complete")]
pub struct Truncated;

// === impl Decoder ===

impl Decoder {
    /// A decoder for a body delimited by `framing`.
    pub fn new(framing: Framing) -> Decoder {
        Decoder {
            framing,
            chunked: Chunked::Size,
            remaining: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
        }
    }

    /// Takes the next piece of body off the front of `buffered` (framing bytes are dropped).
    pub fn next(&mut self, buffered: &mut BytesMut) -> Result<Piece, HeadError> {
        loop {
            match self.framing {
                Framing::Empty => return Ok(Piece::End { reusable: true }),
                Framing::Length(_) if self.remaining == 0 => {
                    return Ok(Piece::End { reusable: true })
                }
                Framing::Length(_) if !buffered.is_empty() => {
                    let n = (buffered.len() as u64).min(self.remaining) as usize;
                    self.remaining -= n as u64;
                    return Ok(Piece::Data(buffered.split_to(n).freeze()));
                }
                Framing::Eof if !buffered.is_empty() => {
                    return Ok(Piece::Data(buffered.split().freeze()));
                }
                Framing::Chunked => {
                    if self.chunked == Chunked::Done {
                        return Ok(Piece::End { reusable: true });
                    }
                    match self.chunked.step(buffered)? {
                        Decoded::Skip(n) => buffered.advance(n),
                        Decoded::Data { start, len } => {
                            buffered.advance(start);
                            return Ok(Piece::Data(buffered.split_to(len).freeze()));
                        }
                        Decoded::More => return Ok(Piece::NeedMore),
                    }
                }
                Framing::Length(_) | Framing::Eof => return Ok(Piece::NeedMore),
            }
        }
    }

    /// The connection closed with nothing left in the buffer: `Ok` when that ends the body (it
    /// was delimited by the close, so the connection is not reusable), else the body is cut.
    pub fn at_eof(&self) -> Result<(), Truncated> {
        match self.framing {
            Framing::Eof => Ok(()),
            _ => Err(Truncated),
        }
    }

    /// Whether the whole body is already in `buffered` (small responses).
    pub fn complete_in(&self, buffered: &BytesMut) -> bool {
        match self.framing {
            Framing::Empty => true,
            Framing::Length(n) => buffered.len() as u64 >= n,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` one after another, as reads would, and collects the body.
    fn decode(framing: Framing, pieces: &[&[u8]]) -> (Vec<u8>, Option<bool>) {
        let mut decoder = Decoder::new(framing);
        let mut buffered = BytesMut::new();
        let mut body = Vec::new();
        let mut pieces = pieces.iter();
        loop {
            match decoder.next(&mut buffered).unwrap() {
                Piece::Data(data) => body.extend_from_slice(&data),
                Piece::End { reusable } => return (body, Some(reusable)),
                Piece::NeedMore => match pieces.next() {
                    Some(piece) => buffered.extend_from_slice(piece),
                    None => return (body, decoder.at_eof().ok().map(|()| false)),
                },
            }
        }
    }

    #[test]
    fn lengths_stop_at_their_end_and_leave_the_rest() {
        let mut decoder = Decoder::new(Framing::Length(3));
        let mut buffered = BytesMut::from(&b"abcdef"[..]);
        assert_eq!(
            decoder.next(&mut buffered).unwrap(),
            Piece::Data(Bytes::from_static(b"abc"))
        );
        assert_eq!(
            decoder.next(&mut buffered).unwrap(),
            Piece::End { reusable: true }
        );
        assert_eq!(&buffered[..], b"def");
        assert_eq!(
            decode(Framing::Length(4), &[b"ab", b"cd"]),
            (b"abcd".to_vec(), Some(true))
        );
    }

    #[test]
    fn chunked_bodies_decode_across_pieces() {
        let pieces: [&[u8]; 3] = [b"5\r\nhel", b"lo\r\n3\r", b"\nabc\r\n0\r\n\r\n"];
        assert_eq!(
            decode(Framing::Chunked, &pieces),
            (b"helloabc".to_vec(), Some(true))
        );
        let mut decoder = Decoder::new(Framing::Chunked);
        assert!(decoder.next(&mut BytesMut::from(&b"zz\r\n"[..])).is_err());
    }

    #[test]
    fn only_bodies_delimited_by_close_may_end_at_eof() {
        assert_eq!(
            decode(Framing::Eof, &[b"ab", b"c"]),
            (b"abc".to_vec(), Some(false))
        );
        assert_eq!(decode(Framing::Length(5), &[b"ab"]), (b"ab".to_vec(), None));
        assert_eq!(
            decode(Framing::Chunked, &[b"5\r\nab"]),
            (b"ab".to_vec(), None)
        );
        assert_eq!(Decoder::new(Framing::Length(1)).at_eof(), Err(Truncated));
        assert_eq!(decode(Framing::Empty, &[]), (Vec::new(), Some(true)));
    }

    #[test]
    fn small_bodies_are_known_complete() {
        let buffered = BytesMut::from(&b"hello"[..]);
        assert!(Decoder::new(Framing::Length(5)).complete_in(&buffered));
        assert!(!Decoder::new(Framing::Length(6)).complete_in(&buffered));
        assert!(Decoder::new(Framing::Empty).complete_in(&BytesMut::new()));
        assert!(!Decoder::new(Framing::Chunked).complete_in(&buffered));
    }
}
