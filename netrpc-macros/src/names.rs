//! Wire names: a method's Rust name in the case its peers call it by.

use syn::LitStr;

/// How a method's Rust name becomes its wire name: the service's `rename_all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    /// Go's exported form, `get_value` → `GetValue`: the default, as Go's peers need it.
    Pascal,
    /// `get_value` → `getValue`, as JavaScript names go.
    Camel,
    /// The Rust name as written, `get_value`, as Neovim's API names go.
    Snake,
}

impl Case {
    /// The case `rename_all = "..."` names.
    pub(crate) fn parse(lit: &LitStr) -> syn::Result<Case> {
        match lit.value().as_str() {
            "PascalCase" => Ok(Case::Pascal),
            "camelCase" => Ok(Case::Camel),
            "snake_case" => Ok(Case::Snake),
            other => Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown rename_all = {other:?}: expected \"PascalCase\" (Go's exported \
                     names, the default), \"camelCase\" or \"snake_case\" (the Rust names as written)"
                ),
            )),
        }
    }

    /// The wire name of the method named `rust` (a snake-case Rust name, without `r#`).
    pub(crate) fn apply(self, rust: &str) -> String {
        match self {
            Case::Snake => rust.to_owned(),
            Case::Pascal => rust.split('_').map(capitalized).collect(),
            Case::Camel => {
                let pascal: String = rust.split('_').map(capitalized).collect();
                let mut chars = pascal.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_lowercase().chain(chars).collect()
                })
            }
        }
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::Case;

    #[test]
    fn pascal_case_is_go_exported_form() {
        assert_eq!(Case::Pascal.apply("multiply"), "Multiply");
        assert_eq!(Case::Pascal.apply("get_value"), "GetValue");
        assert_eq!(Case::Pascal.apply("mul2"), "Mul2");
        assert_eq!(Case::Pascal.apply("nvim_buf_get_lines"), "NvimBufGetLines");
        assert_eq!(Case::Pascal.apply("_private__twice"), "PrivateTwice");
    }

    #[test]
    fn camel_and_snake_case() {
        assert_eq!(Case::Camel.apply("get_value"), "getValue");
        assert_eq!(Case::Camel.apply("x"), "x");
        assert_eq!(Case::Snake.apply("nvim_eval"), "nvim_eval");
    }
}
