//! Where each value of a YAML file is: a tree of the document's maps and lists with the line
//! and column of every key and value, so that an error about a field (`faults[0].verb`) can
//! point at it, and the excerpt shown under such an error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
}

impl Position {
    fn of(location: &serde_saphyr::Location) -> Option<Position> {
        let line = usize::try_from(location.line()).ok()?;
        let column = usize::try_from(location.column()).ok()?;
        (line > 0).then_some(Position { line, column })
    }
}

/// The shape of a YAML document with positions.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    root: Option<Node>,
}

#[derive(Debug, Clone)]
struct Node {
    at: Option<Position>,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    Map(Vec<(String, Option<Position>, Node)>),
    List(Vec<Node>),
    Scalar,
}

/// One step of a field path: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A key of a map.
    Key(String),
    /// An index of a list.
    Index(usize),
}

/// The segments of a field path as errors write it: `faults[0].latency`, `expect.steps.a`.
pub fn segments(field: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in field.split('.') {
        let (key, rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        for index in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(n) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(n));
            }
        }
    }
    out
}

impl Positions {
    /// The positions of `text`'s values; empty when the text is not YAML.
    pub fn of(text: &str) -> Positions {
        let root = serde_saphyr::from_str::<Spanned<Node>>(text)
            .ok()
            .map(|spanned| {
                let mut node = spanned.value;
                node.at = Position::of(&spanned.referenced);
                node
            });
        Positions { root }
    }

    /// Where the value at `path` is, or the nearest enclosing value that exists.
    pub fn value(&self, path: &[Segment]) -> Option<Position> {
        self.find(path, false)
    }

    /// Where the key of the map entry at `path` is (the value's position for list items), or
    /// the nearest enclosing value that exists.
    pub fn key(&self, path: &[Segment]) -> Option<Position> {
        self.find(path, true)
    }

    fn find(&self, path: &[Segment], key: bool) -> Option<Position> {
        let mut node = self.root.as_ref()?;
        // Where the deepest entry found so far is written: its key for a map entry, the item
        // itself in a list. A field that is missing is reported there.
        let mut deepest = node.at;
        for segment in path {
            let (key_at, next) = match (&node.shape, segment) {
                (Shape::Map(entries), Segment::Key(k)) => {
                    match entries.iter().find(|(name, _, _)| name == k) {
                        Some((_, at, n)) => (*at, n),
                        None => return deepest,
                    }
                }
                (Shape::List(items), Segment::Index(i)) => match items.get(*i) {
                    Some(n) => (None, n),
                    None => return deepest,
                },
                _ => return deepest,
            };
            deepest = key_at.or(next.at).or(deepest);
            node = next;
        }
        if key { deepest } else { node.at.or(deepest) }
    }
}

/// The line `line` of `text` with a caret under `column`, as the linter shows source lines;
/// control characters are shown as visible symbols.
pub fn excerpt(text: &str, at: Position) -> String {
    let Some(source) = text.lines().nth(at.line.saturating_sub(1)) else {
        return String::new();
    };
    let source = crate::check::render::visible(source);
    let width = at.line.to_string().len();
    let pad = " ".repeat(width);
    format!(
        "{pad} |\n{} | {source}\n{pad} | {}^",
        at.line,
        " ".repeat(at.column.saturating_sub(1))
    )
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// A map key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Key(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Key(String::new()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct NodeVisitor;

fn scalar<E>() -> Result<Node, E> {
    Ok(Node {
        at: None,
        shape: Shape::Scalar,
    })
}

fn spanned(s: Spanned<Node>) -> Node {
    let mut node = s.value;
    node.at = Position::of(&s.referenced);
    node
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        scalar()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        scalar()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        scalar()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        scalar()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(spanned(item));
        }
        Ok(Node {
            at: None,
            shape: Shape::List(items),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.value.0, Position::of(&key.referenced), spanned(value)));
        }
        Ok(Node {
            at: None,
            shape: Shape::Map(entries),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "description: x\nfaults:\n  - { verb: gte, resource: pods }\n  - verb: get\n    resource: podz\nexpect:\n  steps:\n    scale_ot: Succeeded\n";

    #[test]
    fn keys_and_values_are_found_by_their_path() {
        let p = Positions::of(TEXT);
        let at = |line, column| Some(Position { line, column });
        assert_eq!(p.value(&segments("faults[0].verb")), at(3, 13));
        assert_eq!(p.value(&segments("faults[1].resource")), at(5, 15));
        assert_eq!(p.key(&segments("expect.steps.scale_ot")), at(8, 5));
        assert_eq!(p.value(&segments("expect.steps.scale_ot")), at(8, 15));
        // A missing field points at the nearest value that exists.
        assert_eq!(p.value(&segments("faults[1].latency")), at(4, 5));
        assert_eq!(p.value(&segments("faults[7]")), p.key(&segments("faults")));
        assert_eq!(p.value(&segments("expect.steps.nope")), at(7, 3));
        assert_eq!(p.key(&segments("faults")), at(2, 1));
    }

    #[test]
    fn the_excerpt_shows_the_line_and_escapes_control_characters() {
        let text = "a: 1\nb: \u{1b}[31mred\n";
        assert_eq!(
            excerpt(text, Position { line: 2, column: 4 }),
            "  |\n2 | b: \u{241b}[31mred\n  |    ^"
        );
    }
}
