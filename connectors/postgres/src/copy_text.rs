//! Rows in the text format of `COPY … FROM STDIN`: tab-separated, one line per row.

/// How much of a COPY is written before it is sent: the server parses one chunk while the next
/// is written.
const CHUNK_BYTES: usize = 256 * 1024;

/// Sends one line per item of `rows`, written by `write_row` in this text format, through
/// `statement` (a `COPY … FROM STDIN`), chunk by chunk.
pub(crate) async fn copy_in<T>(
    connection: &mut sqlx::PgConnection,
    statement: &str,
    rows: impl IntoIterator<Item = T>,
    mut write_row: impl FnMut(&mut String, T),
) -> Result<(), sqlx::Error> {
    let mut copy = connection.copy_in_raw(statement).await?;
    let mut chunk = String::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
    for row in rows {
        write_row(&mut chunk, row);
        if chunk.len() >= CHUNK_BYTES {
            copy.send(chunk.as_bytes()).await?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        copy.send(chunk.as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Appends `value` as a column followed by a tab, escaping what the format reserves.
pub(crate) fn field(out: &mut String, value: &str) {
    for character in value.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out.push('\t');
}

/// Appends `values` as the row's last columns and ends the row.
pub(crate) fn numbers(out: &mut String, values: &[i64]) {
    use std::fmt::Write;
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push('\t');
        }
        write!(out, "{value}").expect("writing to a String cannot fail");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_characters_are_escaped_and_rows_end_with_a_newline() {
        let mut out = String::new();
        super::field(&mut out, "a\tb\\c\nd\re");
        super::numbers(&mut out, &[1, -2]);
        assert_eq!(out, "a\\tb\\\\c\\nd\\re\t1\t-2\n");
    }
}
