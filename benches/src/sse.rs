//! A Server-Sent Events reader for load clients: a chunked HTTP/1.1 body decoded as bytes arrive,
//! and of each event only what a benchmark looks at (its name, id, a `changed_at` in its data,
//! and whether it is a comment), with no allocation per event.

/// An event's `event:` field, among those the FlowMart streams send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventName {
    /// None given.
    #[default]
    Unnamed,
    /// `reorder-alert`.
    ReorderAlert,
    /// `lagged`.
    Lagged,
    /// `reset`.
    Reset,
    /// Any other.
    Other,
}

/// One Server-Sent Event, as far as the bench looks at it.
#[derive(Debug, Default, PartialEq)]
pub struct SseEvent {
    /// `event:`.
    pub name: EventName,
    /// `id:`, if a number.
    pub id: Option<u64>,
    /// `"changed_at":` in `data:`, if there.
    pub changed_at: Option<u64>,
    /// A comment (`:` line): a keep-alive.
    pub comment: bool,
}

/// Decodes a chunked HTTP/1.1 body into Server-Sent Events as bytes arrive.
#[derive(Default)]
pub struct EventReader {
    chunk: ChunkState,
    /// The SSE line read so far.
    line: Vec<u8>,
    event: SseEvent,
}

enum ChunkState {
    /// In a chunk-size line: the size so far, and whether past its digits (in an extension).
    Size(usize, bool),
    /// In a chunk's data, this many bytes left.
    Data(usize),
    /// After a chunk's data: its CRLF, this many bytes left.
    DataEnd(u8),
    /// After the last chunk.
    Done,
}

impl Default for ChunkState {
    fn default() -> Self {
        ChunkState::Size(0, false)
    }
}

/// The body ended (its last chunk was read).
#[derive(Debug, PartialEq, Eq)]
pub struct BodyEnded;

impl EventReader {
    /// Feeds `bytes` of the body; calls `dispatch` with each whole event.
    pub fn feed(&mut self, mut bytes: &[u8], dispatch: &mut impl FnMut(SseEvent)) -> Result<(), BodyEnded> {
        while let Some(&byte) = bytes.first() {
            match self.chunk {
                ChunkState::Size(size, extension) => {
                    bytes = &bytes[1..];
                    self.chunk = match byte {
                        b'\n' if size == 0 => ChunkState::Done,
                        b'\n' => ChunkState::Data(size),
                        _ if extension => ChunkState::Size(size, true),
                        _ => match (byte as char).to_digit(16) {
                            Some(digit) => ChunkState::Size(size * 16 + digit as usize, false),
                            // `\r`, or an extension's `;`.
                            None => ChunkState::Size(size, true),
                        },
                    };
                }
                ChunkState::Data(left) => {
                    let take = left.min(bytes.len());
                    self.sse(&bytes[..take], dispatch);
                    bytes = &bytes[take..];
                    self.chunk = if take == left { ChunkState::DataEnd(2) } else { ChunkState::Data(left - take) };
                }
                ChunkState::DataEnd(left) => {
                    bytes = &bytes[1..];
                    self.chunk = if left == 1 { ChunkState::default() } else { ChunkState::DataEnd(left - 1) };
                }
                ChunkState::Done => return Err(BodyEnded),
            }
        }
        if matches!(self.chunk, ChunkState::Done) { Err(BodyEnded) } else { Ok(()) }
    }

    /// Feeds SSE text; dispatches each event at its blank line.
    fn sse(&mut self, mut text: &[u8], dispatch: &mut impl FnMut(SseEvent)) {
        while let Some(end) = memchr::memchr(b'\n', text) {
            if self.line.is_empty() {
                self.line_read(&text[..end], dispatch);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&text[..end]);
                self.line_read(&line, dispatch);
                line.clear();
                self.line = line;
            }
            text = &text[end + 1..];
        }
        self.line.extend_from_slice(text);
    }

    /// One whole line (without its `\n`).
    fn line_read(&mut self, line: &[u8], dispatch: &mut impl FnMut(SseEvent)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            if event != SseEvent::default() {
                dispatch(event);
            }
        } else if line.starts_with(b":") {
            self.event.comment = true;
        } else if let Some(name) = line.strip_prefix(b"event:") {
            self.event.name = match name.trim_ascii() {
                b"reorder-alert" => EventName::ReorderAlert,
                b"lagged" => EventName::Lagged,
                b"reset" => EventName::Reset,
                _ => EventName::Other,
            };
        } else if let Some(id) = line.strip_prefix(b"id:") {
            self.event.id = std::str::from_utf8(id.trim_ascii()).ok().and_then(|id| id.parse().ok());
        } else if let Some(data) = line.strip_prefix(b"data:") {
            // Near the end of an alert's JSON: searched from there.
            static FIELD: std::sync::LazyLock<memchr::memmem::FinderRev<'static>> =
                std::sync::LazyLock::new(|| memchr::memmem::FinderRev::new(b"\"changed_at\":"));
            if let Some(at) = FIELD.rfind(data) {
                let digits = data[at + FIELD.needle().len()..].iter().take_while(|byte| byte.is_ascii_digit());
                self.event.changed_at = Some(digits.fold(0, |value, digit| value * 10 + u64::from(digit - b'0')));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_across_reads_and_chunks_are_read_whole() {
        let events = "id: 7\nevent: reorder-alert\ndata: {\"sku\":\"a\",\"changed_at\":1700000000123}\n\n:\n\nevent: lagged\ndata: {\"missed\":3}\n\n";
        let (first, second) = events.split_at(40);
        let body = format!("{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n", first.len(), second.len());
        for split in 0..body.len() {
            let (mut reader, mut seen) = (EventReader::default(), Vec::new());
            let _ = reader.feed(&body.as_bytes()[..split], &mut |event| seen.push(event));
            assert_eq!(reader.feed(&body.as_bytes()[split..], &mut |event| seen.push(event)), Err(BodyEnded));
            assert_eq!(seen.len(), 3, "split at {split}: {seen:?}");
            assert_eq!((seen[0].id, seen[0].changed_at), (Some(7), Some(1_700_000_000_123)));
            assert!(seen[1].comment && seen[2].name == EventName::Lagged);
        }
    }
}
