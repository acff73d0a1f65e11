//! A located YAML tree, and a serde deserializer over it whose errors carry `line:col`.
//!
//! `serde_yaml` gives locations for syntax errors only, and stops at the first one; the loader
//! needs the location of every value it checks. So we build our own tree from `yaml-rust2`'s
//! events, resolving anchors, aliases and `<<` merge keys, and deserialize the schema's wire types
//! from it. The deserializer also matches hyphen and underscore spellings of struct fields as one
//! key and records unknown keys (with their location) instead of failing on them.
//!
//! Pure: no IO. Bounded: nesting depth and alias expansion are capped, so hostile input gets an
//! error, not a stack overflow or an exponential blow-up.

use std::{cell::RefCell, fmt};

use serde::de::{self, Error as _, IntoDeserializer, Unexpected};
use yaml_rust2::{
    parser::{Event, MarkedEventReceiver, Parser},
    scanner::{Marker, TScalarStyle},
};

/// A position in a YAML text, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mark {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

/// The content of a node. Scalars keep their text; typing happens when deserializing.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `plain` scalars (unquoted, untagged) resolve to null, booleans and numbers as in YAML 1.2.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order, merge keys already resolved.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Whether this is a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }

    /// The scalar text, if this is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entry of a mapping whose key is `key`, also accepting the hyphen/underscore twin.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key and value nodes of the entry `key` (either spelling).
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        let Value::Map(entries) = &self.value else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| k.as_scalar().is_some_and(|text| same_key(text, key)))
            .map(|(k, v)| (k, v))
    }

    /// The elements of a sequence (empty for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The entries of a mapping (empty for anything else).
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// A short name of the node's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Whether two keys are the same key: equal, or equal once hyphens are read as underscores.
pub fn same_key(a: &str, b: &str) -> bool {
    a == b || (a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y)))
}

fn norm(byte: u8) -> u8 {
    if byte == b'-' { b'_' } else { byte }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A problem found while reading YAML, with its location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub mark: Mark,
    pub message: String,
}

/// The result of parsing one YAML text.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The first document's root; `None` for an empty text.
    pub root: Option<Node>,
    /// Problems that still leave a usable tree (duplicate keys, extra documents).
    pub problems: Vec<Problem>,
}

/// Deepest nesting accepted; real manifests nest fewer than ten levels.
const MAX_DEPTH: usize = 128;
/// Most nodes one text may expand to (aliases included).
const MAX_NODES: usize = 1_000_000;

/// Parses YAML into a located tree. A syntax error is fatal and located.
pub fn parse(text: &str) -> Result<Parsed, Problem> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(error) = parser.load(&mut builder, true) {
        let marker = error.marker();
        return Err(Problem {
            mark: mark(marker),
            message: syntax_message(error.info()),
        });
    }
    if let Some(fatal) = builder.fatal {
        return Err(fatal);
    }
    Ok(Parsed {
        root: builder.root,
        problems: builder.problems,
    })
}

fn syntax_message(info: &str) -> String {
    format!("invalid YAML: {info}")
}

fn mark(marker: &Marker) -> Mark {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Mark {
        line: to_u32(marker.line()),
        col: to_u32(marker.col() + 1),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

enum Frame {
    Seq {
        items: Vec<Node>,
        mark: Mark,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        mark: Mark,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    problems: Vec<Problem>,
    fatal: Option<Problem>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.fatal.is_some() {
            return;
        }
        let at = mark(&marker);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.problems.push(Problem {
                        mark: at,
                        message: "a manifest holds one YAML document; this second one is ignored"
                            .to_owned(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tagged_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == TScalarStyle::Plain && !tagged_str;
                self.finish(
                    Node {
                        value: Value::Scalar { text, plain },
                        mark: at,
                    },
                    anchor,
                );
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, node)) => {
                    let node = node.clone();
                    self.nodes += count_nodes(&node);
                    self.finish(node, 0);
                }
                None => self.fail(at, "unknown alias"),
            },
            Event::SequenceStart(anchor, _) => {
                self.open(
                    Frame::Seq {
                        items: Vec::new(),
                        mark: at,
                        anchor,
                    },
                    at,
                );
            }
            Event::MappingStart(anchor, _) => {
                self.open(
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        mark: at,
                        anchor,
                    },
                    at,
                );
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    mark,
                    anchor,
                }) = self.stack.pop()
                {
                    self.finish(
                        Node {
                            value: Value::Seq(items),
                            mark,
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    entries,
                    mark,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    // yaml-rust2 marks a block mapping at its first `:`; the first key is
                    // where a reader looks for it.
                    let mark = entries.first().map_or(mark, |(k, _)| k.mark.min(mark));
                    let entries = self.resolve_merges(entries);
                    self.finish(
                        Node {
                            value: Value::Map(entries),
                            mark,
                        },
                        anchor,
                    );
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

impl Builder {
    fn fail(&mut self, mark: Mark, message: &str) {
        self.fatal = Some(Problem {
            mark,
            message: format!("invalid YAML: {message}"),
        });
    }

    fn open(&mut self, frame: Frame, at: Mark) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(at, &format!("nested deeper than {MAX_DEPTH} levels"));
        } else {
            self.stack.push(frame);
        }
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.fail(
                node.mark,
                &format!("expands to more than {MAX_NODES} nodes (alias bomb?)"),
            );
            return;
        }
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let Some(text) = k.as_scalar().filter(|_| !is_merge_key(&k)) {
                        let first = entries.iter().find(|(e, _)| e.as_scalar() == Some(text));
                        if let Some((first, _)) = first {
                            self.problems.push(Problem {
                                mark: k.mark,
                                message: format!(
                                    "duplicate key `{text}` (first given at line {}); \
                                     expected each key once",
                                    first.mark.line
                                ),
                            });
                            return;
                        }
                    }
                    entries.push((k, node));
                }
            },
            None => {
                if self.documents <= 1 {
                    self.root = Some(node);
                }
            }
        }
    }

    /// Applies `<<: *base` and `<<: [*a, *b]`: merged entries fill in keys the mapping lacks.
    fn resolve_merges(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        if !entries.iter().any(|(k, _)| is_merge_key(k)) {
            return entries;
        }
        let (merges, mut own): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|(k, _)| is_merge_key(k));
        for (key, value) in merges {
            let sources: Vec<&Node> = match &value.value {
                Value::Map(_) => vec![&value],
                Value::Seq(items) => items.iter().collect(),
                Value::Scalar { .. } => Vec::new(),
            };
            for source in sources {
                let Value::Map(merged) = &source.value else {
                    self.problems.push(Problem {
                        mark: key.mark,
                        message: "a merge key `<<` takes a mapping or a list of mappings"
                            .to_owned(),
                    });
                    continue;
                };
                for (k, v) in merged {
                    if !own.iter().any(|(o, _)| o.as_scalar() == k.as_scalar()) {
                        own.push((k.clone(), v.clone()));
                    }
                }
            }
            if matches!(value.value, Value::Scalar { .. }) {
                self.problems.push(Problem {
                    mark: key.mark,
                    message: "a merge key `<<` takes a mapping or a list of mappings".to_owned(),
                });
            }
        }
        own
    }
}

fn is_merge_key(node: &Node) -> bool {
    matches!(&node.value, Value::Scalar { text, plain: true } if text == "<<")
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => 1,
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// serde
// ---------------------------------------------------------------------------------------------

/// A deserialization error and where it happened (the innermost node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeError {
    pub message: String,
    pub mark: Option<Mark>,
}

impl DeError {
    fn at(mut self, mark: Mark) -> Self {
        self.mark.get_or_insert(mark);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            mark: None,
        }
    }

    // Never echo a string's value: a misplaced secret must not reach an error message.
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::custom(format_args!(
            "expected {}, found {}",
            expected(exp),
            describe(&unexp)
        ))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::custom(format_args!(
            "invalid value {}; expected {exp}",
            describe(&unexp)
        ))
    }
}

/// serde's "expected" in the words of YAML, not of Rust (`struct DockerSource` is a mapping).
fn expected(exp: &dyn de::Expected) -> String {
    let text = exp.to_string();
    if text.starts_with("struct ") || text == "a map" {
        "a mapping".to_owned()
    } else if text == "a sequence" {
        "a list".to_owned()
    } else {
        text
    }
}

fn describe(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Str(_) | Unexpected::Char(_) => "a string".to_owned(),
        Unexpected::Unit => "null".to_owned(),
        Unexpected::Map => "a mapping".to_owned(),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Bool(b) => format!("`{b}`"),
        Unexpected::Signed(n) => format!("`{n}`"),
        Unexpected::Unsigned(n) => format!("`{n}`"),
        Unexpected::Float(n) => format!("`{n}`"),
        other => other.to_string(),
    }
}

/// An unknown key met while deserializing a struct: reported, not fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKey {
    pub mark: Mark,
    pub key: String,
    /// The keys that struct knows, for a "did you mean" hint.
    pub known: &'static [&'static str],
}

/// Deserializes `T` from `node`, collecting unknown keys.
pub fn from_node<'de, T: de::Deserialize<'de>>(
    node: &Node,
) -> Result<(T, Vec<UnknownKey>), DeError> {
    let unknown = RefCell::new(Vec::new());
    let value = T::deserialize(NodeDe {
        node,
        unknown: &unknown,
        unknown_key: None,
    })?;
    Ok((value, unknown.into_inner()))
}

/// The tree as JSON (merge keys resolved, plain scalars typed as YAML 1.2 would).
pub fn to_json(node: &Node) -> Result<serde_json::Value, DeError> {
    from_node(node).map(|(value, _)| value)
}

#[derive(Clone, Copy)]
struct NodeDe<'a> {
    node: &'a Node,
    unknown: &'a RefCell<Vec<UnknownKey>>,
    /// Set when this node is the value of a struct key the struct does not know.
    unknown_key: Option<(&'a Node, &'static [&'static str])>,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node) -> NodeDe<'a> {
        NodeDe {
            node,
            unknown: self.unknown,
            unknown_key: None,
        }
    }

    fn scalar_text(&self, exp: &dyn de::Expected) -> Result<&'a str, DeError> {
        match &self.node.value {
            Value::Scalar { .. } if self.node.is_null() => {
                Err(de::Error::invalid_type(Unexpected::Unit, exp))
            }
            Value::Scalar { text, .. } => Ok(text),
            Value::Seq(_) => Err(de::Error::invalid_type(Unexpected::Seq, exp)),
            Value::Map(_) => Err(de::Error::invalid_type(Unexpected::Map, exp)),
        }
    }
}

/// What a plain scalar means in YAML 1.2's core schema.
enum Typed<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

fn resolve(text: &str, plain: bool) -> Typed<'_> {
    if !plain {
        return Typed::Str(text);
    }
    if is_null_text(text) {
        return Typed::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Typed::Bool(true),
        "false" | "False" | "FALSE" => return Typed::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Typed::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Typed::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Typed::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Typed::Int(n);
        }
        if let Ok(n) = text.parse::<u64>() {
            return Typed::UInt(n);
        }
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(n) = i64::from_str_radix(hex, 16)
    {
        return Typed::Int(n);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(n) = i64::from_str_radix(oct, 8)
    {
        return Typed::Int(n);
    }
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_numeric && let Ok(n) = text.parse::<f64>() {
        return Typed::Float(n);
    }
    Typed::Str(text)
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {$(
        fn $method<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_any(visitor)
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let mark = self.node.mark;
        let result = match &self.node.value {
            Value::Scalar { text, plain } => match resolve(text, *plain) {
                Typed::Null => visitor.visit_unit(),
                Typed::Bool(b) => visitor.visit_bool(b),
                Typed::Int(n) => visitor.visit_i64(n),
                Typed::UInt(n) => visitor.visit_u64(n),
                Typed::Float(n) => visitor.visit_f64(n),
                Typed::Str(s) => visitor.visit_str(s),
            },
            Value::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                parent: &self,
            }),
            Value::Map(entries) => visitor.visit_map(MapAccess::new(&self, entries, None)),
        };
        result.map_err(|e| e.at(mark))
    }

    forward_to_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_bytes deserialize_byte_buf
    }

    fn deserialize_str<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let mark = self.node.mark;
        // Any non-null scalar reads as its text: `name: 123` is the app "123", as in `cf push`.
        match self.scalar_text(&visitor) {
            Ok(text) => visitor.visit_str(text),
            Err(error) => Err(error),
        }
        .map_err(|e| e.at(mark))
    }

    fn deserialize_string<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(_) => self.deserialize_any(visitor),
            _ if self.node.is_null() => Err(de::Error::invalid_type(Unexpected::Unit, &visitor)),
            Value::Scalar { .. } => Err(de::Error::invalid_type(Unexpected::Str(""), &visitor)),
            Value::Map(_) => Err(de::Error::invalid_type(Unexpected::Map, &visitor)),
        }
        .map_err(|e| e.at(self.node.mark))
    }

    fn deserialize_tuple<V: de::Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.not_a_map(&visitor)),
        }
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let mark = self.node.mark;
        match &self.node.value {
            Value::Map(entries) => visitor
                .visit_map(MapAccess::new(&self, entries, Some(fields)))
                .map_err(|e| e.at(mark)),
            // A type that is "a name or a mapping" (a service binding) asks for a struct and
            // takes a scalar in `visit_str`; derived structs refuse it with a type error.
            Value::Scalar { text, .. } if !self.node.is_null() => {
                visitor.visit_str(text).map_err(|e: DeError| e.at(mark))
            }
            _ => Err(self.not_a_map(&visitor)),
        }
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let mark = self.node.mark;
        match &self.node.value {
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(EnumAccess {
                    key,
                    value: self.child(value),
                })
            }
            Value::Scalar { text, .. } if !self.node.is_null() => {
                visitor.visit_enum(text.as_str().into_deserializer())
            }
            _ => Err(de::Error::invalid_type(
                Unexpected::Other(self.node.kind()),
                &visitor,
            )),
        }
        .map_err(|e: DeError| e.at(mark))
    }

    fn deserialize_ignored_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Some((key, known)) = self.unknown_key {
            self.unknown.borrow_mut().push(UnknownKey {
                mark: key.mark,
                key: key.as_scalar().unwrap_or_default().to_owned(),
                known,
            });
        }
        visitor.visit_unit()
    }
}

impl NodeDe<'_> {
    fn not_a_map(&self, exp: &dyn de::Expected) -> DeError {
        let unexp = match &self.node.value {
            _ if self.node.is_null() => Unexpected::Unit,
            Value::Scalar { .. } => Unexpected::Str(""),
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        };
        DeError::invalid_type(unexp, exp).at(self.node.mark)
    }
}

struct SeqAccess<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    parent: &'p NodeDe<'a>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed.deserialize(self.parent.child(node)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a, 'p> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    parent: &'p NodeDe<'a>,
    /// The struct's fields, when deserializing a struct.
    fields: Option<&'static [&'static str]>,
    value: Option<&'a Node>,
    value_is_unknown: Option<&'a Node>,
    seen: Vec<(&'static str, &'a Node)>,
}

impl<'a, 'p> MapAccess<'a, 'p> {
    fn new(
        parent: &'p NodeDe<'a>,
        entries: &'a [(Node, Node)],
        fields: Option<&'static [&'static str]>,
    ) -> Self {
        MapAccess {
            entries: entries.iter(),
            parent,
            fields,
            value: None,
            value_is_unknown: None,
            seen: Vec::new(),
        }
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        self.value_is_unknown = None;
        let Some(fields) = self.fields else {
            return seed.deserialize(self.parent.child(key)).map(Some);
        };
        let text = key.as_scalar().unwrap_or_default();
        match fields.iter().find(|f| same_key(f, text)) {
            Some(field) => {
                if let Some((_, first)) = self.seen.iter().find(|(f, _)| f == field) {
                    let first_text = first.as_scalar().unwrap_or_default();
                    return Err(DeError::custom(format_args!(
                        "`{text}` is the same key as `{first_text}` (line {}); expected it once",
                        first.mark.line
                    ))
                    .at(key.mark));
                }
                self.seen.push((field, key));
                seed.deserialize(de::value::BorrowedStrDeserializer::<DeError>::new(field))
                    .map(Some)
                    .map_err(|e| e.at(key.mark))
            }
            None => {
                self.value_is_unknown = Some(key);
                seed.deserialize(self.parent.child(key)).map(Some)
            }
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let Some(value) = self.value.take() else {
            return Err(DeError::custom("value requested before its key"));
        };
        let mut de = self.parent.child(value);
        if let (Some(key), Some(fields)) = (self.value_is_unknown, self.fields) {
            de.unknown_key = Some((key, fields));
        }
        seed.deserialize(de)
    }
}

struct EnumAccess<'a> {
    key: &'a Node,
    value: NodeDe<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = NodeDe<'a>;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'a>), DeError> {
        let variant = seed.deserialize(self.value.child(self.key))?;
        Ok((variant, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: de::Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: de::Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).expect("valid yaml").root.expect("a document")
    }

    #[test]
    fn marks_are_one_based() {
        let node = root("a: 1\nbb:\n  - x\n");
        let (key, value) = node.entry("bb").expect("bb");
        assert_eq!(key.mark, Mark { line: 2, col: 1 });
        assert_eq!(value.items()[0].mark, Mark { line: 3, col: 5 });
    }

    #[test]
    fn merge_keys_fill_in_missing_keys_and_explicit_keys_win() {
        let node = root("base: &b {x: 1, y: 2}\nother: &o {z: 3}\napp:\n  <<: [*b, *o]\n  y: 9\n");
        let app = to_json(node.get("app").expect("app")).expect("json");
        assert_eq!(app, serde_json::json!({"y": 9, "x": 1, "z": 3}));
    }

    #[test]
    fn duplicate_keys_are_problems_and_the_first_is_kept() {
        let parsed = parse("a: 1\nb: 2\na: 3\n").expect("parses");
        assert_eq!(
            parsed.problems,
            vec![Problem {
                mark: Mark { line: 3, col: 1 },
                message: "duplicate key `a` (first given at line 1); expected each key once"
                    .to_owned()
            }]
        );
        assert_eq!(
            to_json(&parsed.root.expect("root")).expect("json"),
            serde_json::json!({"a": 1, "b": 2})
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let error = parse("a: [1, 2\nb: 3\n").expect_err("unclosed flow sequence");
        assert_eq!(error.mark.line, 2);
        assert!(
            error.message.starts_with("invalid YAML: "),
            "{}",
            error.message
        );
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        assert!(
            parse(&bomb)
                .expect_err("bomb")
                .message
                .contains("more than")
        );
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn plain_scalars_resolve_as_yaml_1_2_and_quoted_ones_stay_strings() {
        let json = to_json(&root(
            "a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: 0x10\ng: yes\n",
        ))
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5, "f": 16, "g": "yes"})
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // reason: fields are read through Debug in assertions
    struct Probe {
        #[serde(rename = "disk_quota")]
        disk_quota: Option<String>,
        #[serde(rename = "no-route")]
        no_route: Option<bool>,
        count: Option<u32>,
    }

    #[test]
    fn struct_keys_match_either_spelling_and_unknown_keys_are_collected() {
        let (probe, unknown) =
            from_node::<Probe>(&root("disk-quota: 1G\nno_route: true\nextra: 1\n")).expect("ok");
        assert_eq!(probe.disk_quota.as_deref(), Some("1G"));
        assert_eq!(probe.no_route, Some(true));
        assert_eq!(unknown.len(), 1);
        assert_eq!(
            (unknown[0].key.as_str(), unknown[0].mark),
            ("extra", Mark { line: 3, col: 1 })
        );
    }

    #[test]
    fn both_spellings_of_one_key_are_an_error() {
        let error =
            from_node::<Probe>(&root("disk_quota: 1G\ndisk-quota: 2G\n")).expect_err("twice");
        assert_eq!(error.mark, Some(Mark { line: 2, col: 1 }));
        assert_eq!(
            error.message,
            "`disk-quota` is the same key as `disk_quota` (line 1); expected it once"
        );
    }

    #[test]
    fn type_errors_are_located_at_the_innermost_node_and_never_echo_strings() {
        let error = from_node::<Probe>(&root("count: secret-value\n")).expect_err("not a number");
        assert_eq!(error.mark, Some(Mark { line: 1, col: 8 }));
        assert_eq!(error.message, "expected u32, found a string");
    }
}
