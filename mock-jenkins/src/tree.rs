//! Jenkins' `tree=` selector (Stapler's `NamedPathPruner`) and `depth=`, as a render guide.
//!
//! Rendering asks the selector before producing each property, so a `tree=` scan of 10,000 jobs
//! renders only what was asked, as Jenkins does.

/// A parsed `tree=` expression: `a,b[c,d]{0,5},*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    name: String,
    sub: Option<Tree>,
    range: Option<(Option<usize>, Option<usize>)>,
}

/// A malformed expression (Jenkins answers 500 "Malformed tree expression").
#[derive(Debug, thiserror::Error)]
#[error("Malformed tree expression: {0}")]
pub struct Malformed(pub String);

impl Tree {
    /// Parses a `tree=` value.
    pub fn parse(s: &str) -> Result<Tree, Malformed> {
        let mut p = Parser {
            s: s.as_bytes(),
            i: 0,
        };
        let tree = p.list()?;
        if p.i != p.s.len() {
            return Err(Malformed(s.to_string()));
        }
        Ok(tree)
    }

    fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| self.fields.iter().find(|f| f.name == "*"))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn list(&mut self) -> Result<Tree, Malformed> {
        let mut fields = Vec::new();
        loop {
            let start = self.i;
            while self.i < self.s.len() && !b",[]{}".contains(&self.s[self.i]) {
                self.i += 1;
            }
            let name = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
            if name.is_empty() {
                return Err(self.err());
            }
            let mut field = Field {
                name,
                sub: None,
                range: None,
            };
            if self.peek() == Some(b'[') {
                self.i += 1;
                field.sub = Some(self.list()?);
                if self.peek() != Some(b']') {
                    return Err(self.err());
                }
                self.i += 1;
            }
            if self.peek() == Some(b'{') {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != b'}' {
                    self.i += 1;
                }
                let body = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
                if self.peek() != Some(b'}') {
                    return Err(self.err());
                }
                self.i += 1;
                field.range = Some(parse_range(&body).ok_or_else(|| self.err())?);
            }
            fields.push(field);
            if self.peek() == Some(b',') {
                self.i += 1;
                continue;
            }
            return Ok(Tree { fields });
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn err(&self) -> Malformed {
        Malformed(String::from_utf8_lossy(self.s).to_string())
    }
}

/// `{M,N}`, `{M,}`, `{,N}`, `{N}`.
fn parse_range(body: &str) -> Option<(Option<usize>, Option<usize>)> {
    let num = |s: &str| -> Option<Option<usize>> {
        if s.is_empty() {
            Some(None)
        } else {
            s.trim().parse().ok().map(Some)
        }
    };
    match body.split_once(',') {
        Some((a, b)) => Some((num(a)?, num(b)?)),
        None => {
            let n: usize = body.trim().parse().ok()?;
            Some((Some(n), Some(n + 1)))
        }
    }
}

/// What to render of an object.
#[derive(Debug, Clone, Copy)]
pub enum Sel<'a> {
    /// Only the listed properties.
    Tree(&'a Tree),
    /// `depth=`: every property, nested objects with one level less.
    Depth(u32),
    /// A nested object past the depth: only its stub properties (name/url, number/url).
    Stub,
    /// Named in a tree without sub-fields: only `_class`.
    ClassOnly,
}

impl<'a> Sel<'a> {
    /// Should `name` be rendered? `stub` says whether it belongs to the depth-0 stub.
    pub fn wants(&self, name: &str, stub: bool) -> bool {
        match self {
            Sel::Tree(t) => t.field(name).is_some(),
            Sel::Depth(_) => true,
            Sel::Stub => stub,
            Sel::ClassOnly => false,
        }
    }

    /// The selection for a nested object or list property, or `None` if not wanted.
    pub fn child(&self, name: &str, stub: bool) -> Option<Sel<'a>> {
        match self {
            Sel::Tree(t) => t.field(name).map(|f| match &f.sub {
                Some(sub) => Sel::Tree(sub),
                None => Sel::ClassOnly,
            }),
            Sel::Depth(0) => Some(Sel::Stub),
            Sel::Depth(d) => Some(Sel::Depth(d - 1)),
            Sel::Stub => stub.then_some(Sel::Stub),
            Sel::ClassOnly => None,
        }
    }

    /// The `{M,N}` range of a list property.
    pub fn range(&self, name: &str) -> Option<(Option<usize>, Option<usize>)> {
        match self {
            Sel::Tree(t) => t.field(name).and_then(|f| f.range),
            _ => None,
        }
    }
}

/// Applies a `{M,N}` range as old Stapler does: a start beyond the list is an error.
pub fn apply_range<T>(
    items: Vec<T>,
    range: Option<(Option<usize>, Option<usize>)>,
) -> Result<Vec<T>, Malformed> {
    let Some((from, to)) = range else {
        return Ok(items);
    };
    let len = items.len();
    let from = from.unwrap_or(0);
    if from > len {
        return Err(Malformed(format!(
            "range start {from} beyond {len} elements"
        )));
    }
    let to = to.unwrap_or(len).min(len).max(from);
    Ok(items.into_iter().skip(from).take(to - from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nesting_ranges_and_wildcards() {
        let t = Tree::parse("jobs[name,lastBuild[number]]{0,5},*").unwrap();
        let sel = Sel::Tree(&t);
        assert!(sel.wants("anything", false), "* matches every property");
        let jobs = sel.child("jobs", false).unwrap();
        assert!(jobs.wants("name", false) && !jobs.wants("color", true));
        assert_eq!(sel.range("jobs"), Some((Some(0), Some(5))));
        assert!(matches!(jobs.child("lastBuild", false), Some(Sel::Tree(_))));
        assert!(Tree::parse("jobs[name").is_err());
        assert!(Tree::parse("a,,b").is_err());
    }

    #[test]
    fn ranges_follow_stapler_including_the_old_out_of_range_error() {
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(
            apply_range(v.clone(), Some((Some(2), Some(4)))).unwrap(),
            [2, 3]
        );
        assert_eq!(apply_range(v.clone(), parse_range("8,")).unwrap(), [8, 9]);
        assert_eq!(apply_range(v.clone(), parse_range(",2")).unwrap(), [0, 1]);
        assert_eq!(apply_range(v.clone(), parse_range("3")).unwrap(), [3]);
        assert!(apply_range(v, Some((Some(11), None))).is_err());
    }
}
