//! Expressions (evalexpr's operator trees) compiled to a [`Tape`]:
//! parameters folded to constants, definitions compiled once where first
//! used, every symbol and arity checked with the file's line.

use std::collections::HashMap;

use evalexpr::{DefaultNumericTypes, Node, Operator, Value};
use toml::Spanned;

use super::tape::{Op, Slot, Tape, MAX_SLOTS};
use super::{ExprProblem, FileError};

/// A compiled subexpression: a constant (folded) or a slot.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    Const(f64),
    Slot(Slot),
}

/// What a name means.
#[derive(Debug, Clone, Copy)]
enum Symbol {
    Var(Slot),
    Input(Slot),
    Const(f64),
    Definition(usize),
}

/// Where an expression is, for errors.
#[derive(Debug, Clone, Copy)]
struct Site<'a> {
    /// The state, definition or mapping the expression defines.
    what: &'a str,
    line: usize,
}

/// Compiles the expressions of one tape.
pub(crate) struct Compiler<'a> {
    origin: &'a str,
    text: &'a str,
    symbols: HashMap<&'a str, Symbol>,
    definitions: Vec<(&'a str, &'a Spanned<String>)>,
    /// Compiled definitions; `None` while one is being compiled (a cycle).
    done: Vec<Option<Option<Val>>>,
    inputs_allowed: bool,
    tape: Tape,
}

impl<'a> Compiler<'a> {
    /// `states` and `inputs` name the first slots; `parameters` are folded
    /// in; `definitions` are compiled where first used. Names are unique
    /// (checked by the caller).
    pub(crate) fn new(
        origin: &'a str,
        text: &'a str,
        states: &[&'a str],
        inputs: &[&'a str],
        parameters: &[(&'a str, f64)],
        definitions: Vec<(&'a str, &'a Spanned<String>)>,
        inputs_allowed: bool,
    ) -> Self {
        let mut symbols = HashMap::new();
        for (i, s) in states.iter().enumerate() {
            symbols.insert(*s, Symbol::Var(i as Slot));
        }
        for (j, s) in inputs.iter().enumerate() {
            symbols.insert(*s, Symbol::Input((states.len() + j) as Slot));
        }
        for (p, v) in parameters {
            symbols.insert(*p, Symbol::Const(*v));
        }
        for (k, (d, _)) in definitions.iter().enumerate() {
            symbols.insert(*d, Symbol::Definition(k));
        }
        let done = vec![Some(None); definitions.len()];
        Self {
            origin,
            text,
            symbols,
            done,
            definitions,
            inputs_allowed,
            tape: Tape {
                nx: states.len(),
                nu: inputs.len(),
                ops: Vec::new(),
                outputs: Vec::new(),
            },
        }
    }

    /// Compiles `expr` (defining `what`) as the next output.
    pub(crate) fn output(&mut self, what: &str, expr: &Spanned<String>) -> Result<(), FileError> {
        let val = self.expression(what, expr)?;
        let slot = match val {
            Val::Slot(s) => s,
            Val::Const(v) => self.push(Op::Const(v), Site { what, line: 0 })?,
        };
        self.tape.outputs.push(slot);
        Ok(())
    }

    /// The tape; with `check_all`, every definition is compiled first,
    /// used or not, so that each is checked.
    pub(crate) fn finish(mut self, check_all: bool) -> Result<Tape, FileError> {
        if check_all {
            for k in 0..self.definitions.len() {
                self.definition(k)?;
            }
        }
        Ok(self.tape)
    }

    /// The line of `expr` in the file, 1-based.
    pub(crate) fn line_of(&self, expr: &Spanned<String>) -> usize {
        line_at(self.text, expr.span().start)
    }

    fn expression(&mut self, what: &str, expr: &Spanned<String>) -> Result<Val, FileError> {
        let site = Site {
            what,
            line: self.line_of(expr),
        };
        let tree = evalexpr::build_operator_tree::<DefaultNumericTypes>(expr.get_ref())
            .map_err(|e| self.error(site, expr.get_ref(), ExprProblem::Syntax(e.to_string())))?;
        self.node(site, &tree)
    }

    fn definition(&mut self, k: usize) -> Result<Val, FileError> {
        match self.done[k] {
            Some(Some(val)) => Ok(val),
            None => {
                let (name, expr) = self.definitions[k];
                let site = Site {
                    what: name,
                    line: self.line_of(expr),
                };
                Err(self.error(site, name, ExprProblem::Cycle))
            }
            Some(None) => {
                self.done[k] = None;
                let (name, expr) = self.definitions[k];
                let val = self.expression(name, expr)?;
                self.done[k] = Some(Some(val));
                Ok(val)
            }
        }
    }

    fn error(&self, site: Site, symbol: &str, problem: ExprProblem) -> FileError {
        FileError::Expression {
            file: self.origin.to_string(),
            line: site.line,
            defining: site.what.to_string(),
            symbol: symbol.to_string(),
            problem,
        }
    }

    fn push(&mut self, op: Op, site: Site) -> Result<Slot, FileError> {
        let slot = self.tape.slots();
        if slot >= MAX_SLOTS {
            return Err(self.error(site, site.what, ExprProblem::TooLarge(MAX_SLOTS)));
        }
        self.tape.ops.push(op);
        Ok(slot as Slot)
    }

    fn slot(&mut self, op: Op, site: Site) -> Result<Val, FileError> {
        self.push(op, site).map(Val::Slot)
    }

    fn node(&mut self, site: Site, node: &Node<DefaultNumericTypes>) -> Result<Val, FileError> {
        let children = node.children();
        let arity = |n: usize, symbol: &str| -> Result<(), FileError> {
            if children.len() == n {
                Ok(())
            } else {
                Err(self.error(
                    site,
                    symbol,
                    ExprProblem::Arity {
                        expected: n,
                        got: children.len(),
                    },
                ))
            }
        };
        match node.operator() {
            Operator::RootNode => match children {
                [] => Err(self.error(site, site.what, ExprProblem::Empty)),
                [child] => self.node(site, child),
                _ => Err(self.error(site, site.what, ExprProblem::Unsupported(",".into()))),
            },
            Operator::Const { value } => match value {
                Value::Float(v) => Ok(Val::Const(*v)),
                Value::Int(i) => Ok(Val::Const(*i as f64)),
                other => Err(self.error(
                    site,
                    &other.to_string(),
                    ExprProblem::Unsupported("a value that is not a number".into()),
                )),
            },
            Operator::VariableIdentifierRead { identifier } => self.read(site, identifier),
            Operator::Neg => {
                arity(1, "-")?;
                match self.node(site, &children[0])? {
                    Val::Const(v) => Ok(Val::Const(-v)),
                    Val::Slot(a) => self.slot(Op::Neg(a), site),
                }
            }
            Operator::Add | Operator::Sub | Operator::Mul | Operator::Div | Operator::Exp => {
                let symbol = match node.operator() {
                    Operator::Add => "+",
                    Operator::Sub => "-",
                    Operator::Mul => "*",
                    Operator::Div => "/",
                    _ => "^",
                };
                arity(2, symbol)?;
                let a = self.node(site, &children[0])?;
                let b = self.node(site, &children[1])?;
                self.binary(site, symbol, a, b)
            }
            Operator::FunctionIdentifier { identifier } => {
                let args = arguments(children);
                let mut vals = [Val::Const(0.0); 2];
                let expected = match identifier.as_str() {
                    "atan2" => 2,
                    "sin" | "cos" | "tan" | "exp" | "ln" | "sqrt" | "tanh" => 1,
                    _ => {
                        return Err(self.error(site, identifier, ExprProblem::UnknownFunction));
                    }
                };
                if args.len() != expected {
                    return Err(self.error(
                        site,
                        identifier,
                        ExprProblem::Arity {
                            expected,
                            got: args.len(),
                        },
                    ));
                }
                for (v, arg) in vals.iter_mut().zip(args) {
                    *v = self.node(site, arg)?;
                }
                self.function(site, identifier, vals[0], vals[1])
            }
            other => Err(self.error(
                site,
                &other.to_string(),
                ExprProblem::Unsupported(other.to_string()),
            )),
        }
    }

    fn read(&mut self, site: Site, name: &str) -> Result<Val, FileError> {
        match self.symbols.get(name).copied() {
            Some(Symbol::Var(s)) => Ok(Val::Slot(s)),
            Some(Symbol::Input(s)) if self.inputs_allowed => Ok(Val::Slot(s)),
            Some(Symbol::Input(_)) => Err(self.error(site, name, ExprProblem::InputInMapping)),
            Some(Symbol::Const(v)) => Ok(Val::Const(v)),
            Some(Symbol::Definition(k)) => self.definition(k),
            None => Err(self.error(site, name, ExprProblem::UnknownVariable)),
        }
    }

    fn binary(&mut self, site: Site, symbol: &str, a: Val, b: Val) -> Result<Val, FileError> {
        use Val::{Const as K, Slot as S};
        Ok(match (symbol, a, b) {
            // A term a parameter at 0 or 1 removes (the unmodelled effects a
            // plant sets cost the controller's model nothing).
            ("+", v, K(z)) | ("+", K(z), v) | ("-", v, K(z)) if z == 0.0 => v,
            ("*", S(_), K(z)) | ("*", K(z), S(_)) if z == 0.0 => K(0.0),
            ("*", v, K(one)) | ("*", K(one), v) if one == 1.0 => v,
            ("+", K(x), K(y)) => K(x + y),
            ("+", S(x), K(y)) | ("+", K(y), S(x)) => self.slot(Op::AddConst(x, y), site)?,
            ("+", S(x), S(y)) => self.slot(Op::Add(x, y), site)?,
            ("-", K(x), K(y)) => K(x - y),
            ("-", S(x), K(y)) => self.slot(Op::AddConst(x, -y), site)?,
            ("-", K(x), S(y)) => self.slot(Op::SubFromConst(x, y), site)?,
            ("-", S(x), S(y)) => self.slot(Op::Sub(x, y), site)?,
            ("*", K(x), K(y)) => K(x * y),
            ("*", S(x), K(y)) | ("*", K(y), S(x)) => self.slot(Op::MulConst(x, y), site)?,
            ("*", S(x), S(y)) => self.slot(Op::Mul(x, y), site)?,
            ("/", _, K(0.0)) => {
                return Err(self.error(site, "/", ExprProblem::DivisionByZero));
            }
            ("/", K(x), K(y)) => K(x / y),
            ("/", S(x), K(y)) => self.slot(Op::MulConst(x, y.recip()), site)?,
            ("/", K(x), S(y)) => {
                let r = self.push(Op::Recip(y), site)?;
                if x == 1.0 {
                    S(r)
                } else {
                    self.slot(Op::MulConst(r, x), site)?
                }
            }
            ("/", S(x), S(y)) => {
                let r = self.push(Op::Recip(y), site)?;
                self.slot(Op::Mul(x, r), site)?
            }
            (_, K(x), K(y)) => K(power(x, y)),
            (_, S(x), K(y)) => {
                if y.fract() == 0.0 && y.abs() <= i32::MAX as f64 {
                    self.slot(Op::Powi(x, y as i32), site)?
                } else {
                    self.slot(Op::Powf(x, y), site)?
                }
            }
            (_, _, S(_)) => return Err(self.error(site, "^", ExprProblem::VariableExponent)),
        })
    }

    fn function(&mut self, site: Site, name: &str, a: Val, b: Val) -> Result<Val, FileError> {
        if let (Val::Const(x), Val::Const(y)) = (a, b) {
            let v = match name {
                "sin" => x.sin(),
                "cos" => x.cos(),
                "tan" => x.tan(),
                "exp" => x.exp(),
                "ln" => x.ln(),
                "sqrt" => x.sqrt(),
                "tanh" => x.tanh(),
                _ => x.atan2(y),
            };
            return Ok(Val::Const(v));
        }
        let slot = |v: Val, c: &mut Self| match v {
            Val::Slot(s) => Ok(s),
            Val::Const(k) => c.push(Op::Const(k), site),
        };
        let x = slot(a, self)?;
        let op = match name {
            "sin" => Op::Sin(x),
            "cos" => Op::Cos(x),
            "tan" => Op::Tan(x),
            "exp" => Op::Exp(x),
            "ln" => Op::Ln(x),
            "sqrt" => Op::Sqrt(x),
            "tanh" => Op::Tanh(x),
            _ => Op::Atan2(x, slot(b, self)?),
        };
        self.slot(op, site)
    }
}

/// `x^y` on constants, as the tape computes it on a variable.
fn power(x: f64, y: f64) -> f64 {
    if y.fract() == 0.0 && y.abs() <= i32::MAX as f64 {
        x.powi(y as i32)
    } else {
        x.powf(y)
    }
}

/// A function's arguments: evalexpr wraps them in a root node, several in
/// a tuple.
fn arguments(children: &[Node<DefaultNumericTypes>]) -> &[Node<DefaultNumericTypes>] {
    match children {
        [root] if matches!(root.operator(), Operator::RootNode) => match root.children() {
            [tuple] if matches!(tuple.operator(), Operator::Tuple) => tuple.children(),
            args => args,
        },
        args => args,
    }
}

/// The 1-based line of byte offset `at` in `text`.
pub(crate) fn line_at(text: &str, at: usize) -> usize {
    1 + text
        .as_bytes()
        .iter()
        .take(at)
        .filter(|&&b| b == b'\n')
        .count()
}
