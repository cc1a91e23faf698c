//! The step graph of a workflow (spec section 4): which step waits for which.
//!
//! Nodes are the steps in declared order (main steps, parallel members included, then verify,
//! then finally); an edge `a → b` says `b` starts only after `a` is done. Every edge goes from
//! an earlier declared step to a later one, so the graph is acyclic by construction. Unknown or
//! later `after` targets are left out: the checker reports them.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fmt::Write as _;

use crate::diagnostic::Span;
use crate::dsl::ast::{Item, Step, Workflow};

/// The index of a node in [`StepGraph::nodes`] (its declared position).
pub type NodeId = usize;

/// The phase a step runs in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Top-level steps and parallel members (Executing).
    Main,
    /// Steps of `verify { … }` (Monitoring).
    Verify,
    /// Steps of `finally { … }`, run last, always.
    Finally,
}

impl Phase {
    /// The phase's name as written in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Main => "main",
            Phase::Verify => "verify",
            Phase::Finally => "finally",
        }
    }
}

/// One step of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The step name.
    pub name: String,
    /// The phase it belongs to.
    pub phase: Phase,
    /// The parallel group it is a member of (groups are numbered from 0 in declared order).
    pub group: Option<usize>,
    /// The span of the step's name.
    pub span: Span,
}

/// The steps of a workflow and their dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepGraph {
    title: String,
    nodes: Vec<Node>,
    /// For each node, the nodes it waits for, ascending.
    deps: Vec<Vec<NodeId>>,
    by_name: HashMap<String, NodeId>,
}

/// The ids of the nodes a group of declared steps leaves for the next item to wait for.
type Tails = Vec<NodeId>;

impl StepGraph {
    /// Build the graph of a workflow's steps.
    pub fn build(workflow: &Workflow) -> Self {
        let mut g = StepGraph {
            title: workflow.name.value.clone(),
            nodes: Vec::new(),
            deps: Vec::new(),
            by_name: HashMap::new(),
        };
        // Main phase: top-level steps and parallel groups form a sequence.
        let mut tails: Tails = Vec::new();
        let mut groups = 0;
        for item in &workflow.items {
            match item {
                Item::Step(step) => {
                    let deps = if step.after.is_empty() {
                        tails.clone()
                    } else {
                        g.resolve_after(step)
                    };
                    tails = vec![g.add(step, Phase::Main, None, deps)];
                }
                Item::Parallel(p) => {
                    let group = groups;
                    groups += 1;
                    let before = tails.clone();
                    tails = p
                        .steps
                        .iter()
                        .map(|s| g.add(s, Phase::Main, Some(group), before.clone()))
                        .collect();
                }
                _ => {}
            }
        }
        // Verify: in sequence, after every main step; finally: in sequence, after everything.
        let mut tails = g.sinks();
        for phase in [Phase::Verify, Phase::Finally] {
            for item in &workflow.items {
                let steps = match (phase, item) {
                    (Phase::Verify, Item::Verify(v)) => &v.steps,
                    (Phase::Finally, Item::Finally(f)) => &f.steps,
                    _ => continue,
                };
                for step in steps {
                    tails = vec![g.add(step, phase, None, tails)];
                }
            }
        }
        g
    }

    fn add(
        &mut self,
        step: &Step,
        phase: Phase,
        group: Option<usize>,
        mut deps: Vec<NodeId>,
    ) -> NodeId {
        let id = self.nodes.len();
        deps.sort_unstable();
        deps.dedup();
        self.nodes.push(Node {
            name: step.name.name.clone(),
            phase,
            group,
            span: step.name.span,
        });
        self.deps.push(deps);
        // A duplicate name keeps pointing at its first step (the checker reports the duplicate).
        self.by_name.entry(step.name.name.clone()).or_insert(id);
        id
    }

    /// The `after` targets that name main steps declared above.
    fn resolve_after(&self, step: &Step) -> Vec<NodeId> {
        step.after
            .iter()
            .filter_map(|a| self.by_name.get(&a.name).copied())
            .filter(|&id| self.nodes[id].phase == Phase::Main)
            .collect()
    }

    /// The nodes no other node waits for.
    fn sinks(&self) -> Vec<NodeId> {
        let mut waited_for = vec![false; self.nodes.len()];
        for deps in &self.deps {
            for &d in deps {
                waited_for[d] = true;
            }
        }
        (0..self.nodes.len()).filter(|&i| !waited_for[i]).collect()
    }

    /// Every node, in declared order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node of the (first) step with this name.
    pub fn node(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// The nodes `node` waits for directly, ascending.
    pub fn dependencies(&self, node: NodeId) -> &[NodeId] {
        self.deps.get(node).map_or(&[], Vec::as_slice)
    }

    /// The nodes that wait for `node` directly, ascending.
    pub fn dependents(&self, node: NodeId) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| self.deps[i].contains(&node))
            .collect()
    }

    /// Every edge `(from, to)`: `to` waits for `from`; ordered by `to`, then `from`.
    pub fn edges(&self) -> impl Iterator<Item = (NodeId, NodeId)> + '_ {
        self.deps
            .iter()
            .enumerate()
            .flat_map(|(to, deps)| deps.iter().map(move |&from| (from, to)))
    }

    /// A topological order; among steps ready together, the one declared first comes first.
    pub fn topological_order(&self) -> Vec<NodeId> {
        let mut waiting: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<NodeId>> = vec![Vec::new(); self.nodes.len()];
        for (from, to) in self.edges() {
            dependents[from].push(to);
        }
        let mut ready: BinaryHeap<Reverse<NodeId>> = (0..self.nodes.len())
            .filter(|&i| waiting[i] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(n);
            for &d in &dependents[n] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push(Reverse(d));
                }
            }
        }
        order
    }

    /// Every node `node` waits for, directly or not (the steps guaranteed done before it starts).
    pub fn ancestors(&self, node: NodeId) -> BTreeSet<NodeId> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<NodeId> = self.dependencies(node).to_vec();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend_from_slice(self.dependencies(n));
            }
        }
        seen
    }

    /// The names of the steps guaranteed done before the step `name` starts, in declared order.
    pub fn ancestor_names(&self, name: &str) -> Vec<&str> {
        self.node(name).map_or_else(Vec::new, |n| {
            self.ancestors(n)
                .into_iter()
                .map(|a| self.nodes[a].name.as_str())
                .collect()
        })
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph {} {{", dot_string(&self.title));
        out.push_str("  rankdir=TB;\n  node [shape=box];\n");
        for (i, n) in self.nodes.iter().enumerate() {
            if n.phase == Phase::Main && n.group.is_none() {
                let _ = writeln!(out, "  n{i} [label={}];", dot_string(&n.name));
            }
        }
        for (label, members) in self.clusters() {
            let _ = writeln!(out, "  subgraph cluster_{} {{", label.replace(' ', "_"));
            let _ = writeln!(out, "    label={};\n    style=dashed;", dot_string(&label));
            for i in members {
                let _ = writeln!(out, "    n{i} [label={}];", dot_string(&self.nodes[i].name));
            }
            out.push_str("  }\n");
        }
        for (from, to) in self.edges() {
            let _ = writeln!(out, "  n{from} -> n{to};");
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        for (i, n) in self.nodes.iter().enumerate() {
            if n.phase == Phase::Main && n.group.is_none() {
                let _ = writeln!(out, "  n{i}[\"{}\"]", n.name);
            }
        }
        for (label, members) in self.clusters() {
            let _ = writeln!(
                out,
                "  subgraph g_{} [\"{label}\"]",
                label.replace(' ', "_")
            );
            for i in members {
                let _ = writeln!(out, "    n{i}[\"{}\"]", self.nodes[i].name);
            }
            out.push_str("  end\n");
        }
        for (from, to) in self.edges() {
            let _ = writeln!(out, "  n{from} --> n{to}");
        }
        out
    }

    /// The graph as text: one line per step with its phase, group and what it waits for.
    pub fn to_text(&self) -> String {
        let width = self.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let mut line = format!("{:<8}{:<width$}", n.phase.as_str(), n.name);
            let deps = self.dependencies(i);
            if !deps.is_empty() {
                let names: Vec<&str> = deps.iter().map(|&d| self.nodes[d].name.as_str()).collect();
                let _ = write!(line, "  after {}", names.join(", "));
            }
            if let Some(g) = n.group {
                let _ = write!(line, "  (parallel {})", g + 1);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The boxes drawn around steps: each parallel group, verify, finally.
    fn clusters(&self) -> Vec<(String, Vec<NodeId>)> {
        let mut clusters: Vec<(String, Vec<NodeId>)> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let label = match (n.phase, n.group) {
                (Phase::Main, Some(g)) => format!("parallel {}", g + 1),
                (Phase::Main, None) => continue,
                (phase, _) => phase.as_str().to_string(),
            };
            match clusters.iter_mut().find(|(l, _)| *l == label) {
                Some((_, members)) => members.push(i),
                None => clusters.push((label, vec![i])),
            }
        }
        clusters
    }
}

/// A DOT double-quoted string.
fn dot_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dsl::parse;

    fn graph(body: &str) -> StepGraph {
        let text = format!("workflow \"w\" version \"1\" {{\n{body}\n}}");
        StepGraph::build(&parse(&text).unwrap().workflow)
    }

    /// The dependencies of every step, as `name<-dep,dep`.
    fn deps(body: &str) -> Vec<String> {
        let g = graph(body);
        g.nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let d: Vec<&str> = g
                    .dependencies(i)
                    .iter()
                    .map(|&d| g.nodes()[d].name.as_str())
                    .collect();
                format!("{}<-{}", n.name, d.join(","))
            })
            .collect()
    }

    #[test]
    fn implicit_sequence() {
        assert_eq!(
            deps("step a {} step b {} step c {}"),
            ["a<-", "b<-a", "c<-b"]
        );
    }

    #[test]
    fn after_replaces_the_implicit_dependency() {
        assert_eq!(
            deps("step a {} step b {} step c after a {} step d {}"),
            ["a<-", "b<-a", "c<-a", "d<-c"]
        );
        assert_eq!(
            deps("step a {} step b after a {} step c after a, b {}"),
            ["a<-", "b<-a", "c<-a,b"]
        );
    }

    #[test]
    fn unknown_later_and_duplicate_after_targets_are_skipped() {
        assert_eq!(
            deps("step a {} step b after zz, c {} step c {}"),
            ["a<-", "b<-", "c<-b"]
        );
        assert_eq!(deps("step a {} step b after a, a {}"), ["a<-", "b<-a"]);
        // `after` a verify step names no main step.
        assert_eq!(
            deps("verify { step v {} } step a after v {}"),
            ["a<-", "v<-a"]
        );
    }

    #[test]
    fn parallel_groups() {
        let g = graph("step a {} parallel { step b {} step c after a {} } step d {}");
        assert_eq!(
            deps("step a {} parallel { step b {} step c after a {} } step d {}"),
            ["a<-", "b<-a", "c<-a", "d<-b,c"]
        );
        let groups: Vec<Option<usize>> = g.nodes().iter().map(|n| n.group).collect();
        assert_eq!(groups, [None, Some(0), Some(0), None]);
        assert_eq!(
            deps("parallel { step a {} step b {} } parallel { step c {} }"),
            ["a<-", "b<-", "c<-a,b"]
        );
    }

    #[test]
    fn verify_after_all_main_steps_and_finally_after_everything() {
        assert_eq!(
            deps(
                "step a {} step b after a {} step c after a {} verify { step v1 {} step v2 {} } finally { step f1 {} step f2 {} }"
            ),
            [
                "a<-", "b<-a", "c<-a", "v1<-b,c", "v2<-v1", "f1<-v2", "f2<-f1"
            ]
        );
        // Declared order of blocks does not matter: verify and finally still come last.
        assert_eq!(
            deps("finally { step f {} } verify { step v {} } step a {}"),
            ["a<-", "v<-a", "f<-v"]
        );
        assert_eq!(deps("finally { step f {} }"), ["f<-"]);
        assert_eq!(deps("step a {} finally { step f {} }"), ["a<-", "f<-a"]);
        let phases: Vec<Phase> = graph("finally { step f {} } verify { step v {} } step a {}")
            .nodes()
            .iter()
            .map(|n| n.phase)
            .collect();
        assert_eq!(phases, [Phase::Main, Phase::Verify, Phase::Finally]);
    }

    #[test]
    fn topological_order_prefers_declared_order() {
        let g = graph("step a {} parallel { step b {} step c {} } step d after a {} step e {}");
        let names: Vec<&str> = g
            .topological_order()
            .iter()
            .map(|&i| g.nodes()[i].name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        for (from, to) in g.edges() {
            let pos = |n| g.topological_order().iter().position(|&x| x == n);
            assert!(pos(from) < pos(to));
        }
    }

    #[test]
    fn ancestors_are_the_steps_guaranteed_done() {
        let g = graph(
            "step a {} step b {} step c after a {} verify { step v {} } finally { step f {} }",
        );
        assert_eq!(g.ancestor_names("c"), ["a"]);
        assert_eq!(g.ancestor_names("b"), ["a"]);
        assert_eq!(g.ancestor_names("v"), ["a", "b", "c"]);
        assert_eq!(g.ancestor_names("f"), ["a", "b", "c", "v"]);
        assert!(g.ancestor_names("a").is_empty());
        assert!(g.ancestor_names("nope").is_empty());
    }

    #[test]
    fn exports() {
        let g = graph("step a {} parallel { step b {} step c {} } verify { step v {} }");
        let text = g.to_text();
        assert_eq!(
            text,
            "main    a\nmain    b  after a  (parallel 1)\nmain    c  after a  (parallel 1)\nverify  v  after b, c\n"
        );
        let dot = g.to_dot();
        assert!(dot.starts_with("digraph \"w\" {"));
        assert!(dot.contains("subgraph cluster_parallel_1 {"));
        assert!(dot.contains("n0 -> n1;") && dot.contains("n2 -> n3;"));
        assert!(!dot.contains("n0 -> n3"));
        let mermaid = g.to_mermaid();
        assert!(mermaid.starts_with("flowchart TD\n"));
        assert!(mermaid.contains("subgraph g_verify [\"verify\"]\n    n3[\"v\"]\n  end"));
        assert!(mermaid.contains("n1 --> n3"));
    }
}
