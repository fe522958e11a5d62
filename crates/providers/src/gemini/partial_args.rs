//! Function-call arguments that Vertex AI streams as `partialArgs` (a JSON path and a value, or
//! the next piece of a string, each) written as OpenAI's `arguments`: one JSON text sent in
//! pieces that join into the whole object. The model writes its arguments front to back, so the
//! pieces come in document order: each continues the string left open or adds the next member,
//! closing the containers it leaves and opening those it enters. A piece that would go back into
//! something already closed cannot follow the text already sent, and is refused.

use serde_json::{Map, Value};

use super::wire::PartialArg;

/// One step of a JSON path: a member name or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A container whose opening bracket was written and whose closing one was not.
struct Open {
    /// Where it sits in its parent; `None` for the arguments object itself.
    step: Option<Step>,
    array: bool,
    members: usize,
    /// The member names written so far (objects): a name comes once.
    keys: Vec<String>,
}

/// What a piece writes at its path.
enum Piece<'a> {
    /// Part of a string; `more` leaves the string open for the next piece.
    Text {
        text: &'a str,
        more: bool,
    },
    Whole(Value),
}

/// The arguments of one streamed call, as written so far.
#[derive(Default)]
pub struct ArgumentsWriter {
    /// The arguments object first, then the containers inside it that are open.
    open: Vec<Open>,
    /// The path of a string whose closing quote was not written.
    open_string: Option<Vec<Step>>,
}

impl ArgumentsWriter {
    /// The text the pieces add to the arguments; `Err` names the path of a piece that cannot
    /// follow what was written.
    pub fn write(&mut self, pieces: &[PartialArg]) -> Result<String, String> {
        let mut out = String::new();
        for arg in pieces {
            let path = parse_path(&arg.json_path).ok_or_else(|| arg.json_path.clone())?;
            let more = arg.will_continue == Some(true);
            let piece = match (&arg.string_value, &arg.number_value, arg.bool_value) {
                (Some(text), _, _) => Piece::Text { text, more },
                (None, Some(n), _) => Piece::Whole(Value::Number(n.clone())),
                (None, None, Some(b)) => Piece::Whole(Value::Bool(b)),
                (None, None, None) if arg.null_value => Piece::Whole(Value::Null),
                // No value: at most the end of the string open at that path.
                (None, None, None) if self.open_string.as_ref() == Some(&path) => Piece::Text { text: "", more },
                (None, None, None) => continue,
            };
            self.put(&path, piece, &mut out).map_err(|()| arg.json_path.clone())?;
        }
        Ok(out)
    }

    /// The text whole `args` sent with a streamed call add: each member after the last.
    pub fn write_members(&mut self, args: &Map<String, Value>) -> Result<String, String> {
        let mut out = String::new();
        for (key, value) in args {
            self.put(&[Step::Key(key.clone())], Piece::Whole(value.clone()), &mut out).map_err(|()| format!("$.{key}"))?;
        }
        Ok(out)
    }

    /// The text that ends the arguments: the open string, containers and object (`{}` when
    /// nothing was written).
    pub fn finish(&mut self) -> String {
        if self.open.is_empty() {
            return "{}".to_string();
        }
        let mut out = String::new();
        if self.open_string.take().is_some() {
            out.push('"');
        }
        while let Some(open) = self.open.pop() {
            out.push(if open.array { ']' } else { '}' });
        }
        out
    }

    fn put(&mut self, path: &[Step], piece: Piece<'_>, out: &mut String) -> Result<(), ()> {
        if let Piece::Text { text, more } = piece {
            if self.open_string.as_deref() == Some(path) {
                push_escaped(out, text);
                if !more {
                    out.push('"');
                    self.open_string = None;
                }
                return Ok(());
            }
        }
        if self.open_string.take().is_some() {
            out.push('"');
        }
        let (leaf, parents) = path.split_last().ok_or(())?;
        if self.open.is_empty() {
            out.push('{');
            self.open.push(Open { step: None, array: false, members: 0, keys: Vec::new() });
        }
        // Keep the open containers on the way to this piece, close the others, open the rest.
        let kept = 1 + self.open[1..].iter().zip(parents).take_while(|(open, step)| open.step.as_ref() == Some(*step)).count();
        while self.open.len() > kept {
            let closed = self.open.pop().ok_or(())?;
            out.push(if closed.array { ']' } else { '}' });
        }
        for (depth, step) in parents.iter().enumerate().skip(kept - 1) {
            self.member(step, out)?;
            let array = matches!(parents.get(depth + 1).unwrap_or(leaf), Step::Index(_));
            out.push(if array { '[' } else { '{' });
            self.open.push(Open { step: Some(step.clone()), array, members: 0, keys: Vec::new() });
        }
        self.member(leaf, out)?;
        match piece {
            Piece::Text { text, more } => {
                out.push('"');
                push_escaped(out, text);
                if more {
                    self.open_string = Some(path.to_vec());
                } else {
                    out.push('"');
                }
            }
            Piece::Whole(value) => out.push_str(&value.to_string()),
        }
        Ok(())
    }

    /// Starts the next member of the innermost open container (comma, name): a new name in an
    /// object, the next index in an array.
    fn member(&mut self, step: &Step, out: &mut String) -> Result<(), ()> {
        let open = self.open.last_mut().ok_or(())?;
        let comma = if open.members > 0 { "," } else { "" };
        match step {
            Step::Key(key) if !open.array && !open.keys.contains(key) => {
                out.push_str(comma);
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                open.keys.push(key.clone());
            }
            Step::Index(index) if open.array && *index == open.members => out.push_str(comma),
            _ => return Err(()),
        }
        open.members += 1;
        Ok(())
    }
}

/// `text` as it reads inside a JSON string.
fn push_escaped(out: &mut String, text: &str) {
    let quoted = Value::from(text).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// The steps of an RFC 9535 path below `$`: `.name`, `['name']` / `["name"]` and `[0]`; a path
/// without the `$` is read as if it had it. `None` for what a single argument cannot be
/// (wildcards, slices, filters, negative indexes, `$` itself).
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = match path.strip_prefix('$') {
        Some(rest) => rest,
        None if path.starts_with(['.', '[']) => path,
        None => return parse_path(&format!("$.{path}")),
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || name == "*" {
                return None;
            }
            steps.push(Step::Key(name.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (step, after) = bracketed(after)?;
            steps.push(step);
            rest = after;
        } else {
            return None;
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// The inside of `[…]` and what follows the `]`: a quoted name or an index.
fn bracketed(text: &str) -> Option<(Step, &str)> {
    let Some(quote) = text.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        let end = text.find(']')?;
        return Some((Step::Index(text[..end].parse().ok()?), &text[end + 1..]));
    };
    let mut name = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next()?.1 {
                'b' => name.push('\u{8}'),
                'f' => name.push('\u{c}'),
                'n' => name.push('\n'),
                'r' => name.push('\r'),
                't' => name.push('\t'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                    name.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                escaped => name.push(escaped),
            },
            c if c == quote => return Some((Step::Key(name), text[1 + at + 1..].strip_prefix(']')?)),
            c => name.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn arg(piece: Value) -> PartialArg {
        serde_json::from_value(piece).unwrap()
    }

    /// The whole arguments text the pieces make, written in the given batches.
    fn written(batches: &[Vec<Value>]) -> Result<String, String> {
        let mut writer = ArgumentsWriter::default();
        let mut text = String::new();
        for batch in batches {
            text += &writer.write(&batch.iter().cloned().map(arg).collect::<Vec<_>>())?;
        }
        Ok(text + &writer.finish())
    }

    #[test]
    fn pieces_in_document_order_join_into_the_object() {
        // The shapes of the recorded stream (vertex/tool-call-parallel-stream-partial-args) and
        // of Google's example (`$.location` continued, then a number).
        let recorded = [
            vec![json!({"jsonPath": "$.id", "stringValue": "A", "willContinue": true})],
            vec![json!({"jsonPath": "$.id", "stringValue": ""})],
        ];
        assert_eq!(written(&recorded).unwrap(), r#"{"id":"A"}"#);
        let example = [
            vec![json!({"jsonPath": "$.location", "stringValue": "Boston", "willContinue": true})],
            vec![json!({"jsonPath": "$.location", "stringValue": ", MA"}), json!({"jsonPath": "$.brightness", "numberValue": 50})],
        ];
        assert_eq!(written(&example).unwrap(), r#"{"location":"Boston, MA","brightness":50}"#);

        let nested = [vec![
            json!({"jsonPath": "$.recipe.name", "stringValue": "Say \"cheese\"\n", "willContinue": true}),
            json!({"jsonPath": "$.recipe.name", "stringValue": "ü", "willContinue": false}),
            json!({"jsonPath": "$.recipe.ingredients[0].name", "stringValue": "noodles"}),
            json!({"jsonPath": "$.recipe.ingredients[0].grams", "numberValue": 250.5}),
            json!({"jsonPath": "$['recipe']['ingredients'][1]['name']", "stringValue": "sauce"}),
            json!({"jsonPath": "$.recipe.vegan", "boolValue": false}),
            json!({"jsonPath": "$.tags[0]", "stringValue": "quick"}),
            json!({"jsonPath": "$.tags[1][0]", "nullValue": null}),
            json!({"jsonPath": "$[\"odd 'key'\"]", "nullValue": "NULL_VALUE"}),
        ]];
        let text = written(&nested).unwrap();
        let expected = json!({"recipe": {"name": "Say \"cheese\"\nü", "ingredients": [{"name": "noodles", "grams": 250.5}, {"name": "sauce"}], "vegan": false},
            "tags": ["quick", [null]], "odd 'key'": null});
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected, "{text}");

        let mut writer = ArgumentsWriter::default();
        assert_eq!(writer.finish(), "{}", "a call without arguments");
        let mut writer = ArgumentsWriter::default();
        let args = json!({"q": "cats", "n": 2});
        assert_eq!(writer.write_members(args.as_object().unwrap()).unwrap() + &writer.finish(), r#"{"n":2,"q":"cats"}"#);
    }

    #[test]
    fn a_piece_that_cannot_follow_what_was_sent_is_refused() {
        let piece = |path: &str| json!({"jsonPath": path, "numberValue": 1});
        for (pieces, refused) in [
            (vec![piece("$.a.x"), piece("$.b"), piece("$.a.y")], "$.a.y"),
            (vec![piece("$.a"), piece("$.a")], "$.a"),
            (vec![piece("$.a"), piece("$.a.b")], "$.a.b"),
            (vec![piece("$.items[1]")], "$.items[1]"),
            (vec![piece("$.items[0]"), piece("$.items.x")], "$.items.x"),
            (vec![piece("$.a[*]")], "$.a[*]"),
            (vec![piece("$")], "$"),
        ] {
            assert_eq!(written(&[pieces]).unwrap_err(), refused);
        }
    }

    #[test]
    fn paths_are_read_in_both_notations() {
        let steps = |p: &str| parse_path(p);
        let key = |k: &str| Step::Key(k.to_string());
        assert_eq!(steps("$.foo.bar[0].data"), Some(vec![key("foo"), key("bar"), Step::Index(0), key("data")]));
        assert_eq!(steps("$['a.b'][12][\"c\\\"d\"]"), Some(vec![key("a.b"), Step::Index(12), key("c\"d")]));
        assert_eq!(steps("location"), Some(vec![key("location")]));
        assert_eq!(steps("$['\\u00fc\\'']"), Some(vec![key("ü'")]));
        for bad in ["$", "$.", "$[-1]", "$[0:2]", "$['open", "$x", "$..a"] {
            assert_eq!(steps(bad), None, "{bad}");
        }
    }

    /// A JSON path to `steps`, names written as `.name` where they can be, else bracketed.
    fn path_text(steps: &[Step]) -> String {
        let mut path = "$".to_string();
        for step in steps {
            match step {
                Step::Index(i) => path += &format!("[{i}]"),
                Step::Key(k) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => path += &format!(".{k}"),
                Step::Key(k) => path += &format!("[{}]", Value::from(k.as_str())),
            }
        }
        path
    }

    /// The pieces Vertex would stream for `value`, strings cut every `cut` characters.
    fn pieces(value: &Value, at: &mut Vec<Step>, cut: usize, out: &mut Vec<Value>) {
        match value {
            Value::Object(members) => members.iter().for_each(|(k, v)| {
                at.push(Step::Key(k.clone()));
                pieces(v, at, cut, out);
                at.pop();
            }),
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
                at.push(Step::Index(i));
                pieces(v, at, cut, out);
                at.pop();
            }),
            Value::String(s) => {
                let chars: Vec<char> = s.chars().collect();
                let parts: Vec<String> = chars.chunks(cut).map(|c| c.iter().collect()).collect();
                let last = parts.len().saturating_sub(1);
                for (i, part) in parts.iter().enumerate() {
                    out.push(json!({"jsonPath": path_text(at), "stringValue": part, "willContinue": i < last}));
                }
                if parts.is_empty() {
                    out.push(json!({"jsonPath": path_text(at), "stringValue": ""}));
                }
            }
            Value::Number(n) => out.push(json!({"jsonPath": path_text(at), "numberValue": n})),
            Value::Bool(b) => out.push(json!({"jsonPath": path_text(at), "boolValue": b})),
            Value::Null => out.push(json!({"jsonPath": path_text(at), "nullValue": null})),
        }
    }

    fn arguments() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-4000i32..4000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
            Just(Value::Null),
            ".{0,10}".prop_map(Value::from),
        ];
        let key = "[a-z_.$'\\[\\]\" \\\\ü]{0,5}";
        let value = leaf.prop_recursive(3, 24, 3, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Value::from),
                prop::collection::btree_map(key, inner, 1..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map(key, value, 1..5).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// Whatever the arguments and however their pieces are cut and grouped into events,
        /// the text sent is the arguments' own JSON.
        #[test]
        fn the_pieces_of_any_arguments_join_into_their_json(args in arguments(), cut in 1usize..6, batch in 1usize..5) {
            let mut all = Vec::new();
            pieces(&args, &mut Vec::new(), cut, &mut all);
            let batches: Vec<Vec<Value>> = all.chunks(batch).map(<[Value]>::to_vec).collect();
            prop_assert_eq!(written(&batches).unwrap(), args.to_string());
        }
    }
}
