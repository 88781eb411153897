//! Rows in the text format of `COPY … FROM STDIN`: tab-separated, one line per row.

/// Sends `rows` (in this text format) through `statement`, a `COPY … FROM STDIN`.
pub(crate) async fn copy_in(
    connection: &mut sqlx::PgConnection,
    statement: &str,
    rows: &str,
) -> Result<(), sqlx::Error> {
    let mut copy = connection.copy_in_raw(statement).await?;
    copy.send(rows.as_bytes()).await?;
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
