//! How the admin commands print lists: aligned columns that fit a terminal
//! (cells shortened with `…` when they must be), CSV for spreadsheets, and
//! times as the table and the JSON both write them.

use std::time::{Duration, UNIX_EPOCH};

/// The width the tables fit in: a terminal of 120 columns.
pub const WIDTH: usize = 120;

/// A time as the tables, CSV and JSON write it: RFC 3339 in UTC.
pub fn when(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// Aligned columns under a header, at most [`WIDTH`] wide: the widest
/// columns give way first, down to their header's width.
pub fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let count = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| rows.iter().map(|r| count(&r[i])).chain([count(h)]).max().unwrap_or(0))
        .collect();
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    while total(&widths) > WIDTH {
        let Some((widest, _)) = widths
            .iter()
            .enumerate()
            .filter(|(i, w)| **w > count(header[*i]).max(8))
            .max_by_key(|(_, w)| **w)
        else {
            break;
        };
        widths[widest] -= 1;
    }
    let line = |cells: Vec<&str>| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{:width$}", shorten(cell, *width)))
            .collect();
        cells.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n")
}

fn shorten(cell: &str, width: usize) -> String {
    if cell.chars().count() <= width {
        return cell.to_owned();
    }
    let mut short: String = cell.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// CSV with a header line (the `csv` crate quotes). A cell a spreadsheet
/// would run as a formula is written as text.
pub fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = out.write_record(header);
    for row in rows {
        let _ = out.write_record(row.iter().map(|f| not_a_formula(f)));
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn not_a_formula(field: &str) -> String {
    match field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{field}"),
        false => field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_too_wide_for_the_terminal_shortens_its_widest_column() {
        let rows = vec![vec!["alice".to_owned(), "x".repeat(200)]];
        let table = aligned(&["USER", "NOTES"], &rows);
        assert!(table.lines().all(|l| l.chars().count() <= WIDTH), "{table}");
        assert!(table.lines().nth(1).unwrap().ends_with('…'), "{table}");
    }

    #[test]
    fn csv_cells_are_never_formulas() {
        let out = csv(&["a"], &[vec!["=HYPERLINK(\"x\")".into()], vec!["\tcmd".into()]]);
        assert_eq!(out, "a\n\"'=HYPERLINK(\"\"x\"\")\"\n'\tcmd\n");
    }
}
