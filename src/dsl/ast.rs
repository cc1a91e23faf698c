//! The syntax tree of a `.wf` file. Every node carries the span of its source text.
//!
//! Items keep their declared order (the formatter prints them back in that order, and steps'
//! order defines the default sequence). Comments are kept beside the tree in [`File::comments`].

use crate::diagnostic::Span;

/// A parsed `.wf` file: the workflow and every comment, in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// The one workflow of the file.
    pub workflow: Workflow,
    /// Every comment of the file, in source order.
    pub comments: Vec<Comment>,
}

/// A `// …` or `/* … */` comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The comment's full text, including `//` or `/* */`.
    pub text: String,
    /// Where it stands.
    pub span: Span,
    /// True when code precedes it on its line (`timeout 5m // why`); the formatter keeps it there.
    pub trailing: bool,
}

/// An identifier: a step, param, let, alias or map key name.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it stands.
    pub span: Span,
}

/// A string literal without interpolation (workflow name, version, import path, action type).
#[derive(Debug, Clone, PartialEq)]
pub struct PlainString {
    /// The unescaped value.
    pub value: String,
    /// The span of the literal, quotes included.
    pub span: Span,
}

/// `workflow "NAME" version "SEMVER" { item* }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The workflow name.
    pub name: PlainString,
    /// The semantic version.
    pub version: PlainString,
    /// The items in declared order.
    pub items: Vec<Item>,
    /// The whole workflow block.
    pub span: Span,
}

/// One item of the workflow block.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `description "…"`.
    Description(Description),
    /// `labels { k: v, … }`.
    Labels(Labels),
    /// `timeout D` (the whole run).
    Timeout(TimeoutItem),
    /// `max_parallel N`.
    MaxParallel(MaxParallel),
    /// `rollback automatic|manual|none`.
    RollbackMode(RollbackModeItem),
    /// `approval required` or `approval ${expr}`.
    Approval(Approval),
    /// `import "PATH" as ALIAS`.
    Import(Import),
    /// `param NAME: TYPE …`.
    Param(Param),
    /// `let NAME = VALUE`.
    Let(Let),
    /// `step NAME …`.
    Step(Step),
    /// `parallel { step+ }`.
    Parallel(Parallel),
    /// `verify (within D)? { step+ }`.
    Verify(Verify),
    /// `finally { step+ }`.
    Finally(Finally),
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Description(x) => x.span,
            Item::Labels(x) => x.span,
            Item::Timeout(x) => x.span,
            Item::MaxParallel(x) => x.span,
            Item::RollbackMode(x) => x.span,
            Item::Approval(x) => x.span,
            Item::Import(x) => x.span,
            Item::Param(x) => x.span,
            Item::Let(x) => x.span,
            Item::Step(x) => x.span,
            Item::Parallel(x) => x.span,
            Item::Verify(x) => x.span,
            Item::Finally(x) => x.span,
        }
    }

    /// The keyword that starts the item, as an author writes it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Item::Description(_) => "description",
            Item::Labels(_) => "labels",
            Item::Timeout(_) => "timeout",
            Item::MaxParallel(_) => "max_parallel",
            Item::RollbackMode(_) => "rollback",
            Item::Approval(_) => "approval",
            Item::Import(_) => "import",
            Item::Param(_) => "param",
            Item::Let(_) => "let",
            Item::Step(_) => "step",
            Item::Parallel(_) => "parallel",
            Item::Verify(_) => "verify",
            Item::Finally(_) => "finally",
        }
    }
}

/// `description "…"` (of a workflow or a step).
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// The text.
    pub text: StringLit,
    /// The whole item.
    pub span: Span,
}

/// `labels { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// The label map.
    pub map: MapLit,
    /// The whole item.
    pub span: Span,
}

/// `timeout D`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeoutItem {
    /// The duration.
    pub duration: DurationLit,
    /// The whole item.
    pub span: Span,
}

/// `max_parallel N`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxParallel {
    /// The limit.
    pub value: u64,
    /// The span of the number.
    pub value_span: Span,
    /// The whole item.
    pub span: Span,
}

/// How a failed run compensates its completed steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackMode {
    /// Run the compensations in reverse order of completion.
    Automatic,
    /// Record the compensations that would run, and stop.
    Manual,
    /// Just fail.
    None,
}

impl RollbackMode {
    /// The keyword of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackMode::Automatic => "automatic",
            RollbackMode::Manual => "manual",
            RollbackMode::None => "none",
        }
    }
}

/// `rollback automatic|manual|none` (workflow level).
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackModeItem {
    /// The mode.
    pub mode: RollbackMode,
    /// The whole item.
    pub span: Span,
}

/// `approval required` or `approval ${expr}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// What decides whether approval is asked.
    pub kind: ApprovalKind,
    /// The whole item.
    pub span: Span,
}

/// The two forms of `approval`.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalKind {
    /// `approval required`: always ask.
    Required,
    /// `approval ${expr}`: ask when the expression is true at Planning.
    When(Expr),
}

/// `import "PATH" as ALIAS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The rhai file, relative to the template.
    pub path: PlainString,
    /// The module alias.
    pub alias: Ident,
    /// The whole item.
    pub span: Span,
}

/// The declared type of a param.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `string`
    String,
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `duration`
    Duration,
    /// `list`
    List,
    /// `map`
    Map,
    /// `any`
    Any,
}

impl ParamType {
    /// The type a keyword names, if it names one.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "string" => ParamType::String,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            "duration" => ParamType::Duration,
            "list" => ParamType::List,
            "map" => ParamType::Map,
            "any" => ParamType::Any,
            _ => return None,
        })
    }

    /// The keyword of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
            ParamType::List => "list",
            ParamType::Map => "map",
            ParamType::Any => "any",
        }
    }
}

/// `param NAME: TYPE (= VALUE)? ({ constraints })?`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The param name.
    pub name: Ident,
    /// The declared type.
    pub ty: ParamType,
    /// The span of the type keyword.
    pub ty_span: Span,
    /// The default; a param without one is required.
    pub default: Option<Value>,
    /// The constraints, in written order.
    pub constraints: Vec<Constraint>,
    /// The whole item.
    pub span: Span,
}

/// One constraint of a param.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// What it constrains.
    pub kind: ConstraintKind,
    /// The whole constraint.
    pub span: Span,
}

/// The constraints a param may carry.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    /// `min V`
    Min(Value),
    /// `max V`
    Max(Value),
    /// `enum [ … ]`
    Enum(Vec<Value>),
    /// `pattern "REGEX"`
    Pattern(PlainString),
    /// `description "…"`
    Description(StringLit),
}

impl ConstraintKind {
    /// The keyword of the constraint.
    pub fn keyword(&self) -> &'static str {
        match self {
            ConstraintKind::Min(_) => "min",
            ConstraintKind::Max(_) => "max",
            ConstraintKind::Enum(_) => "enum",
            ConstraintKind::Pattern(_) => "pattern",
            ConstraintKind::Description(_) => "description",
        }
    }
}

/// `let NAME = VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    /// The name.
    pub name: Ident,
    /// The value.
    pub value: Value,
    /// The whole item.
    pub span: Span,
}

/// `step NAME (after A, B)? { step_item* }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step name.
    pub name: Ident,
    /// Explicit dependencies (empty: the implicit sequence applies).
    pub after: Vec<Ident>,
    /// The items in written order.
    pub items: Vec<StepItem>,
    /// The whole step.
    pub span: Span,
}

/// One item of a step (or of a step's `rollback` block).
#[derive(Debug, Clone, PartialEq)]
pub enum StepItem {
    /// `description "…"`
    Description(Description),
    /// `action "TYPE"`
    Action(ActionItem),
    /// `with { … }`
    With(With),
    /// `timeout D` (one attempt)
    Timeout(TimeoutItem),
    /// `retry N (backoff D (max D)?)?`
    Retry(Retry),
    /// `when ${expr}`
    When(When),
    /// `on_failure rollback|fail|continue`
    OnFailure(OnFailureItem),
    /// `rollback { … }` — the compensation
    Rollback(RollbackBlock),
}

impl StepItem {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            StepItem::Description(x) => x.span,
            StepItem::Action(x) => x.span,
            StepItem::With(x) => x.span,
            StepItem::Timeout(x) => x.span,
            StepItem::Retry(x) => x.span,
            StepItem::When(x) => x.span,
            StepItem::OnFailure(x) => x.span,
            StepItem::Rollback(x) => x.span,
        }
    }

    /// The keyword that starts the item.
    pub fn keyword(&self) -> &'static str {
        match self {
            StepItem::Description(_) => "description",
            StepItem::Action(_) => "action",
            StepItem::With(_) => "with",
            StepItem::Timeout(_) => "timeout",
            StepItem::Retry(_) => "retry",
            StepItem::When(_) => "when",
            StepItem::OnFailure(_) => "on_failure",
            StepItem::Rollback(_) => "rollback",
        }
    }
}

/// `action "TYPE"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionItem {
    /// The action type.
    pub name: PlainString,
    /// The whole item.
    pub span: Span,
}

/// `with { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct With {
    /// The action parameters.
    pub map: MapLit,
    /// The whole item.
    pub span: Span,
}

/// `retry N (backoff D (max D)?)?`.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// Extra attempts after the first.
    pub count: u64,
    /// The first backoff, doubling each attempt.
    pub backoff: Option<DurationLit>,
    /// The cap of the backoff.
    pub max: Option<DurationLit>,
    /// The whole item.
    pub span: Span,
}

/// `when ${expr}`.
#[derive(Debug, Clone, PartialEq)]
pub struct When {
    /// The condition.
    pub expr: Expr,
    /// The whole item.
    pub span: Span,
}

/// What happens after a step's last attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Roll back per the workflow's rollback mode.
    Rollback,
    /// Fail without compensation.
    Fail,
    /// Record Failed and go on.
    Continue,
}

impl OnFailure {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Rollback => "rollback",
            OnFailure::Fail => "fail",
            OnFailure::Continue => "continue",
        }
    }
}

/// `on_failure rollback|fail|continue`.
#[derive(Debug, Clone, PartialEq)]
pub struct OnFailureItem {
    /// The policy.
    pub policy: OnFailure,
    /// The whole item.
    pub span: Span,
}

/// A step's `rollback { action with? timeout? retry? }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackBlock {
    /// The items (only action, with, timeout and retry are allowed; the checker reports others).
    pub items: Vec<StepItem>,
    /// The whole block.
    pub span: Span,
}

/// `parallel { step+ }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parallel {
    /// The member steps.
    pub steps: Vec<Step>,
    /// The whole group.
    pub span: Span,
}

/// `verify (within D)? { step+ }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verify {
    /// The bound of the whole Monitoring phase.
    pub within: Option<DurationLit>,
    /// The verify steps, run in sequence.
    pub steps: Vec<Step>,
    /// The whole block.
    pub span: Span,
}

/// `finally { step+ }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finally {
    /// The finally steps, run in sequence.
    pub steps: Vec<Step>,
    /// The whole block.
    pub span: Span,
}

/// A duration literal such as `250ms`, `30s`, `1h30m`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationLit {
    /// The length in milliseconds.
    pub millis: u64,
    /// The span of the literal.
    pub span: Span,
}

/// A `${ … }` expression (rhai source).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The rhai source between `${` and `}`, untrimmed.
    pub source: String,
    /// The span of `source` (inside the delimiters), for mapping rhai positions.
    pub source_span: Span,
    /// The span of the whole `${ … }`, or of the bare identifier it stands for.
    pub span: Span,
}

/// A string literal with interpolation parts.
#[derive(Debug, Clone, PartialEq)]
pub struct StringLit {
    /// The text and `${ … }` parts, in order.
    pub parts: Vec<StringPart>,
    /// The span of the literal, quotes included.
    pub span: Span,
}

impl StringLit {
    /// The value when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StringPart::Text(t) => out.push_str(t),
                StringPart::Expr(_) => return None,
            }
        }
        Some(out)
    }
}

/// A part of a string literal.
#[derive(Debug, Clone, PartialEq)]
pub enum StringPart {
    /// Literal text, unescaped.
    Text(String),
    /// An interpolated `${ … }`.
    Expr(Expr),
}

/// A map literal `{ key: value, … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct MapLit {
    /// The entries in written order.
    pub entries: Vec<MapEntry>,
    /// The whole map, braces included.
    pub span: Span,
}

impl MapLit {
    /// The entry with the given key, if any.
    pub fn get(&self, key: &str) -> Option<&MapEntry> {
        self.entries.iter().find(|e| e.key.name == key)
    }
}

/// One `key: value` entry (or the shorthand `key`).
#[derive(Debug, Clone, PartialEq)]
pub struct MapEntry {
    /// The key (an identifier or a string; `quoted` tells which).
    pub key: MapKey,
    /// The value; for the shorthand `key`, an [`ValueKind::Ident`] of the same name.
    pub value: Value,
    /// True when written as the shorthand `key`.
    pub shorthand: bool,
    /// The whole entry.
    pub span: Span,
}

/// A map key.
#[derive(Debug, Clone, PartialEq)]
pub struct MapKey {
    /// The key's text (unescaped when quoted).
    pub name: String,
    /// True when written as a string literal.
    pub quoted: bool,
    /// Where it stands.
    pub span: Span,
}

/// A value: a literal, a list, a map, an expression or a bare identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What kind of value.
    pub kind: ValueKind,
    /// Where it stands.
    pub span: Span,
}

/// The kinds of value.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A string, possibly interpolated.
    String(StringLit),
    /// An integer.
    Int(i64),
    /// A float (the source text is kept for faithful printing).
    Float(f64, String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A duration literal.
    Duration(DurationLit),
    /// `[a, b]`.
    List(Vec<Value>),
    /// `{ k: v }`.
    Map(MapLit),
    /// `${ … }`.
    Expr(Expr),
    /// A bare identifier: shorthand for `${ ident }`.
    Ident(Ident),
}

impl Workflow {
    /// Every step of the file: main (including parallel members), verify, finally, in order.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.items
            .iter()
            .flat_map(|item| -> Box<dyn Iterator<Item = &Step> + '_> {
                match item {
                    Item::Step(s) => Box::new(std::iter::once(s)),
                    Item::Parallel(p) => Box::new(p.steps.iter()),
                    Item::Verify(v) => Box::new(v.steps.iter()),
                    Item::Finally(f) => Box::new(f.steps.iter()),
                    _ => Box::new(std::iter::empty()),
                }
            })
    }

    /// Every param, in order.
    pub fn params(&self) -> impl Iterator<Item = &Param> {
        self.items.iter().filter_map(|i| match i {
            Item::Param(p) => Some(p),
            _ => None,
        })
    }

    /// Every let, in order.
    pub fn lets(&self) -> impl Iterator<Item = &Let> {
        self.items.iter().filter_map(|i| match i {
            Item::Let(l) => Some(l),
            _ => None,
        })
    }

    /// Every import, in order.
    pub fn imports(&self) -> impl Iterator<Item = &Import> {
        self.items.iter().filter_map(|i| match i {
            Item::Import(x) => Some(x),
            _ => None,
        })
    }
}

impl Step {
    /// The first `action` item.
    pub fn action(&self) -> Option<&ActionItem> {
        self.items.iter().find_map(|i| match i {
            StepItem::Action(a) => Some(a),
            _ => None,
        })
    }

    /// The first `with` item.
    pub fn with(&self) -> Option<&With> {
        self.items.iter().find_map(|i| match i {
            StepItem::With(w) => Some(w),
            _ => None,
        })
    }

    /// The first `timeout` item.
    pub fn timeout(&self) -> Option<&TimeoutItem> {
        self.items.iter().find_map(|i| match i {
            StepItem::Timeout(t) => Some(t),
            _ => None,
        })
    }

    /// The first `retry` item.
    pub fn retry(&self) -> Option<&Retry> {
        self.items.iter().find_map(|i| match i {
            StepItem::Retry(r) => Some(r),
            _ => None,
        })
    }

    /// The first `when` item.
    pub fn when(&self) -> Option<&When> {
        self.items.iter().find_map(|i| match i {
            StepItem::When(w) => Some(w),
            _ => None,
        })
    }

    /// The first `on_failure` item.
    pub fn on_failure(&self) -> Option<&OnFailureItem> {
        self.items.iter().find_map(|i| match i {
            StepItem::OnFailure(o) => Some(o),
            _ => None,
        })
    }

    /// The first `rollback { … }` block.
    pub fn rollback(&self) -> Option<&RollbackBlock> {
        self.items.iter().find_map(|i| match i {
            StepItem::Rollback(r) => Some(r),
            _ => None,
        })
    }
}

impl RollbackBlock {
    /// The `action` of the compensation.
    pub fn action(&self) -> Option<&ActionItem> {
        self.items.iter().find_map(|i| match i {
            StepItem::Action(a) => Some(a),
            _ => None,
        })
    }

    /// The `with` of the compensation.
    pub fn with(&self) -> Option<&With> {
        self.items.iter().find_map(|i| match i {
            StepItem::With(w) => Some(w),
            _ => None,
        })
    }

    /// The `timeout` of the compensation.
    pub fn timeout(&self) -> Option<&TimeoutItem> {
        self.items.iter().find_map(|i| match i {
            StepItem::Timeout(t) => Some(t),
            _ => None,
        })
    }

    /// The `retry` of the compensation.
    pub fn retry(&self) -> Option<&Retry> {
        self.items.iter().find_map(|i| match i {
            StepItem::Retry(r) => Some(r),
            _ => None,
        })
    }
}
