//! Plain aligned text tables for the admin commands' default output.

/// Columns padded to their widest cell; numbers are right-aligned when `right` lists the column.
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if right.contains(&i) { format!("{c:>w$}", w = widths[i]) } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n")
}

/// A JSON value as a table cell: strings bare, null as `-`.
pub fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_and_right_aligns_numbers() {
        let rows = vec![vec!["alpha".into(), "3".into()], vec!["b".into(), "120".into()]];
        assert_eq!(table(&["NAME", "N"], &rows, &[1]), "NAME     N\nalpha    3\nb      120");
    }
}
