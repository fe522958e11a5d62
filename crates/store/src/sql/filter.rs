//! A `WHERE` clause over the request log built from optional filters, with its parameters
//! numbered for the dialect. Used by the log query and by spend.

use switchyard_core::store::Admitted;

use super::{Dialect, SqlValue};

pub(crate) struct Filter {
    dialect: Dialect,
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Filter {
    pub fn new(dialect: Dialect) -> Self {
        Self { dialect, clauses: Vec::new(), params: Vec::new() }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        self.dialect.param(self.params.len())
    }

    /// `column = value` when a value is given.
    pub fn equals(&mut self, column: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            let p = self.bind(SqlValue::text(v));
            self.clauses.push(format!("{column} = {p}"));
        }
        self
    }

    /// The requested model, the served model, or `provider/model` of what served.
    pub fn model(&mut self, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            let p = self.bind(SqlValue::text(v));
            self.clauses.push(format!("(requested_model = {p} OR model = {p} OR (provider || '/' || model) = {p})"));
        }
        self
    }

    /// The served model by name or as `provider/model`.
    pub fn served_model(&mut self, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            let p = self.bind(SqlValue::text(v));
            self.clauses.push(format!("(model = {p} OR (provider || '/' || model) = {p})"));
        }
        self
    }

    /// `column >= value` when a value is given.
    pub fn at_least(&mut self, column: &str, value: Option<f64>) -> &mut Self {
        if let Some(v) = value {
            let p = self.bind(SqlValue::Real(Some(v)));
            self.clauses.push(format!("{column} >= {p}"));
        }
        self
    }

    /// The text occurs in the stored request or response body (case-sensitive, no wildcards).
    pub fn body_contains(&mut self, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            let p = self.bind(SqlValue::text(t));
            let find = |column: &str| match self.dialect {
                Dialect::Sqlite => format!("instr({column}, {p}) > 0"),
                Dialect::Postgres => format!("strpos({column}, {p}) > 0"),
            };
            let clause = format!("({} OR {})", find("request_body"), find("response_body"));
            self.clauses.push(clause);
        }
        self
    }

    /// The metadata (JSON text) has `key` with exactly `value`; both are parameters.
    pub fn metadata(&mut self, key: &str, value: &str) -> &mut Self {
        let clause = match self.dialect {
            // json_each rather than a JSON path: a path would have to quote the key.
            Dialect::Sqlite => {
                let (k, v) = (self.bind(SqlValue::text(key)), self.bind(SqlValue::text(value)));
                format!("EXISTS (SELECT 1 FROM json_each(request_log.metadata) WHERE key = {k} AND value = {v})")
            }
            // Containment on the jsonb form, one clause per pair (a repeated key must match both
            // values, i.e. nothing): the GIN expression index serves rare pairs, and its
            // statistics (most common metadata objects) let the planner see that a common pair is
            // common and walk the time index newest first instead of sorting every match.
            // Metadata values are always strings, so containment is the same test as `->> = v`.
            Dialect::Postgres => {
                let pair = serde_json::json!({ key: value }).to_string();
                let p = self.bind(SqlValue::text(&pair));
                format!("((metadata::jsonb) @> CAST(CAST({p} AS TEXT) AS jsonb))")
            }
        };
        self.clauses.push(clause);
        self
    }

    /// A condition with no parameters of its own (or already bound).
    pub fn clause(&mut self, sql: &str) {
        self.clauses.push(sql.to_string());
    }

    /// `from` inclusive, `to` exclusive, in Unix ms.
    pub fn started_between(&mut self, from_ms: Option<i64>, to_ms: Option<i64>) -> &mut Self {
        if let Some(from) = from_ms {
            let p = self.bind(SqlValue::Int(Some(from)));
            self.clauses.push(format!("started_at_ms >= {p}"));
        }
        if let Some(to) = to_ms {
            let p = self.bind(SqlValue::Int(Some(to)));
            self.clauses.push(format!("started_at_ms < {p}"));
        }
        self
    }

    /// Only the requests that passed admission: sent upstream (a refusal never was), plus cache
    /// hits when they are admitted too.
    pub fn admitted(&mut self, admitted: Option<Admitted>) -> &mut Self {
        match admitted {
            None => {}
            Some(Admitted::Served) => self.clauses.push("attempts > 0".into()),
            Some(Admitted::WithHits) => self.clauses.push("(attempts > 0 OR cache_status IN ('HIT', 'SEMANTIC_HIT'))".into()),
        }
        self
    }

    /// ` WHERE …` or nothing.
    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    pub fn into_params(self) -> Vec<SqlValue> {
        self.params
    }
}
