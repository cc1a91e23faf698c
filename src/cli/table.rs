//! The one table printer of the command line: a header row, then a line per row, each column
//! padded to its widest cell. Cells may come from files or the cluster, so they are shown
//! through `visible` (one character for one: the widths hold).

use std::fmt::Write as _;

use crate::check::render::visible;

/// Where a table's lines start and how far apart its columns are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Spaces before every line.
    pub indent: usize,
    /// Spaces between a column's widest cell and the next column.
    pub gap: usize,
}

impl Layout {
    /// A section of a report (`remedy run`, `get`, `history`): indented two, two apart.
    pub const SECTION: Layout = Layout { indent: 2, gap: 2 };
    /// kubectl's (`remedy list`): flush left, three apart.
    pub const KUBECTL: Layout = Layout { indent: 0, gap: 3 };
    /// A listing (`remedy actions`): flush left, two apart.
    pub const LISTING: Layout = Layout { indent: 0, gap: 2 };
}

/// Writes `header` and `rows` to `o` as a table laid out as `layout` says; lines carry no
/// trailing spaces.
pub fn write(o: &mut String, layout: Layout, header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| visible(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut l = " ".repeat(layout.indent);
        for (i, cell) in cells.iter().enumerate() {
            l.push_str(cell);
            if i + 1 < cells.len() {
                let width = widths.get(i).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count()) + layout.gap;
                l.push_str(&" ".repeat(pad));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(o, "{}", line(header.to_vec()));
    for row in &rows {
        let _ = writeln!(o, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_to_the_widest_cell_and_lines_end_without_spaces() {
        let rows = vec![
            vec!["a".to_string(), "long cell".to_string(), "x".to_string()],
            vec!["wider".to_string(), "b".to_string(), String::new()],
        ];
        let mut o = String::new();
        write(&mut o, Layout::SECTION, &["K", "V", "Z"], &rows);
        assert_eq!(
            o,
            "  K      V          Z\n  a      long cell  x\n  wider  b\n"
        );
        let mut o = String::new();
        write(
            &mut o,
            Layout::KUBECTL,
            &["K", "V"],
            &[vec!["a\u{1b}".into(), "b".into()]],
        );
        assert_eq!(o, "K    V\na␛   b\n");
    }
}
