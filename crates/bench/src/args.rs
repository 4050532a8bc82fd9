//! A tiny `--name value` argument parser: the tools take a handful of options, not worth a
//! dependency.

use anyhow::{Context as _, Result, bail};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Parsed `--name value` pairs. Each option must be read once with [`Args::get`] or
/// [`Args::required`]; [`Args::finish`] rejects any left unread (a typo, usually).
#[derive(Debug, Default)]
pub struct Args {
    values: BTreeMap<String, String>,
}

impl Args {
    /// Parses `--name value` and `--name=value` pairs; anything else is an error.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument `{arg}`: options look like --name value");
            };
            let (name, value) = match name.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .with_context(|| format!("--{name} needs a value"))?;
                    (name.to_owned(), value)
                }
            };
            if values.insert(name.clone(), value).is_some() {
                bail!("--{name} is given twice");
            }
        }
        Ok(Self { values })
    }

    /// The option's value parsed as `T`, or `default` when it is absent.
    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.remove(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|err| anyhow::anyhow!("--{name} {raw:?}: {err}")),
        }
    }

    /// The option's value, if given.
    pub fn optional(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    /// The option's value; an error naming it when absent.
    pub fn required(&mut self, name: &str) -> Result<String> {
        self.values
            .remove(name)
            .with_context(|| format!("--{name} is required"))
    }

    /// Fails if an option was given that no one read.
    pub fn finish(self) -> Result<()> {
        match self.values.keys().next() {
            Some(name) => bail!("unknown option --{name}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn reads_both_forms_and_defaults() -> Result<()> {
        let mut args = parse("--connections 8 --duration=2.5")?;
        assert_eq!(args.get("connections", 32usize)?, 8);
        assert_eq!(args.get("duration", 10.0f64)?, 2.5);
        assert_eq!(args.get("warmup", 2.0f64)?, 2.0);
        args.finish()
    }

    #[test]
    fn rejects_unknown_repeated_and_bad_values() -> Result<()> {
        assert!(parse("--a 1").and_then(Args::finish).is_err());
        assert!(parse("--a 1 --a 2").is_err());
        assert!(parse("positional").is_err());
        assert!(parse("--a").is_err());
        assert!(parse("--n x")?.get("n", 1u32).is_err());
        Ok(())
    }
}
