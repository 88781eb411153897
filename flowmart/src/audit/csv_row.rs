//! One CSV row (RFC 4180): a field holding a comma, a quote, a carriage return or a line feed is
//! quoted, its quotes doubled; rows end with CRLF.

/// `fields` as one CSV row, line end included.
pub(super) fn csv_row<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut row = String::new();
    for (at, field) in fields.into_iter().enumerate() {
        if at > 0 {
            row.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            row.push('"');
            row.push_str(&field.replace('"', "\"\""));
            row.push('"');
        } else {
            row.push_str(field);
        }
    }
    row.push_str("\r\n");
    row
}

#[cfg(test)]
mod tests {
    use super::csv_row;

    #[test]
    fn fields_with_separators_or_quotes_are_quoted_and_others_left_bare() {
        assert_eq!(csv_row(["a", "", "-5"]), "a,,-5\r\n");
        assert_eq!(csv_row(["x,y", "say \"hi\"", "two\nlines"]), "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
    }
}
