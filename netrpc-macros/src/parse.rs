//! What a service trait says, checked: its name, and each method's wire name, parameters and
//! reply. Everything the expansion cannot turn into a client and a server is refused here,
//! with a message that says what to write instead.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemTrait, LitStr, Pat, PathArguments, ReceiverKind,
    ReturnType, Safety, TraitItem, TraitItemFn, Type,
};

use crate::names::Case;

/// A service trait, as `#[netrpc::service]` read it.
pub(crate) struct Service {
    /// The trait as written, less the `#[netrpc(..)]` attributes of its methods.
    pub(crate) item: ItemTrait,
    /// The service's name: the trait's, or `name = ".."`; empty for bare method names.
    pub(crate) name: String,
    pub(crate) methods: Vec<Method>,
}

/// One method of a service trait.
pub(crate) struct Method {
    pub(crate) ident: Ident,
    /// What peers call it: `Multiply`, or `#[netrpc(name = "..")]`.
    pub(crate) wire: String,
    /// Its doc comments, for the client's method.
    pub(crate) docs: Vec<Attribute>,
    /// Whether it takes `&netrpc::Context` after `&self`.
    pub(crate) context: bool,
    pub(crate) params: Vec<Param>,
    /// The `T` of its `Result<T, E>`; `None` for a method without a return value, which the
    /// client sends as a notification.
    pub(crate) reply: Option<Type>,
    /// Where errors about its registration point: its return type, or its name.
    pub(crate) span: proc_macro2::Span,
}

/// A parameter of a method, after `&self` and any `&Context`.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

impl Method {
    /// The name the service's peers call, `"Arith.Multiply"` (bare in a service named `""`).
    pub(crate) fn service_method(&self, service: &str) -> String {
        match service {
            "" => self.wire.clone(),
            service => format!("{service}.{}", self.wire),
        }
    }

    /// The name of the client's method that starts a call without waiting for it.
    pub(crate) fn go_ident(&self) -> Ident {
        Ident::new(&format!("{}_go", self.ident.unraw()), self.ident.span())
    }
}

/// The client's own items, which no method may be named after.
const CLIENT_ITEMS: [&str; 4] = ["new", "with_timeout", "client", "into_client"];

/// The provided method the trait gains.
const INTO_SERVICE: &str = "into_service";

/// Errors found so far: all of them are reported, not only the first.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }
}

/// The trait `#[netrpc::service]` is on.
pub(crate) fn service_trait(item: TokenStream) -> syn::Result<ItemTrait> {
    syn::parse2(item).map_err(|e| {
        let message = "#[netrpc::service] goes on a trait, whose methods are the service's";
        syn::Error::new(e.span(), message)
    })
}

/// Reads `#[netrpc::service(attr)] item`, taking the `#[netrpc(..)]` attributes of its methods
/// out of `item`.
pub(crate) fn service(attr: TokenStream, item: &mut ItemTrait) -> syn::Result<Service> {
    let mut errors = Errors::default();
    let (name, case) = match service_options(attr) {
        Ok((name, case)) => (name, case),
        Err(e) => {
            errors.push(e);
            (None, Case::Pascal)
        }
    };
    let name = name.unwrap_or_else(|| item.ident.unraw().to_string());
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.at(
            &item.generics,
            "a service trait cannot be generic: its client and its server are concrete types, \
             and each method's parameters and reply are decoded as the types it names",
        );
    }
    let mut methods = Vec::new();
    for trait_item in &mut item.items {
        match trait_item {
            TraitItem::Fn(function) => match method(function, case) {
                Ok(method) => methods.push(method),
                Err(e) => errors.push(e),
            },
            other => errors.at(
                &*other,
                "a service trait holds methods only: its client could not say what an \
                 associated type or constant is",
            ),
        }
    }
    check_names(item, &name, &methods, &mut errors);
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(Service {
            item: item.clone(),
            name,
            methods,
        }),
    }
}

/// `name = ".."` and `rename_all = ".."`.
fn service_options(attr: TokenStream) -> syn::Result<(Option<String>, Case)> {
    let mut name = None;
    let mut case = Case::Pascal;
    syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let lit: LitStr = meta.value()?.parse()?;
            if lit.value().contains('.') {
                return Err(syn::Error::new(
                    lit.span(),
                    "a service name cannot hold a `.`: peers call `Service.Method`",
                ));
            }
            name = Some(lit.value());
        } else if meta.path.is_ident("rename_all") {
            case = Case::parse(&meta.value()?.parse()?)?;
        } else {
            return Err(meta.error(
                "unknown #[netrpc::service] option: expected `name = \"..\"` (the service's \
                 name; \"\" for methods called by bare names) or `rename_all = \"..\"`",
            ));
        }
        Ok(())
    })
    .parse2(attr)?;
    Ok((name, case))
}

/// Reads one method, taking its `#[netrpc(..)]` attributes out of the trait.
fn method(function: &mut TraitItemFn, case: Case) -> syn::Result<Method> {
    let mut errors = Errors::default();
    let mut wire = None;
    let mut kept = Vec::new();
    for attr in std::mem::take(&mut function.attrs) {
        if attr.path().is_ident("netrpc") {
            if let Err(e) = method_options(&attr, &mut wire) {
                errors.push(e);
            }
        } else {
            kept.push(attr);
        }
    }
    function.attrs = kept;
    let sig = &function.sig;
    let ident = sig.ident.clone();
    if let Some(asyncness) = &sig.asyncness {
        errors.at(
            asyncness,
            "a service method is blocking: remove `async` (each call runs on a thread of its own)",
        );
    }
    if let Safety::Unsafe(unsafety) = &sig.safety {
        errors.at(
            unsafety,
            "a service method cannot be `unsafe`: peers call it",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.at(abi, "a service method cannot name an ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.at(
            &sig.generics,
            "a service method cannot be generic: its parameters and reply are decoded as the \
             types it names",
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) => match &receiver.kind {
            ReceiverKind::Reference(_, _, None) => {}
            ReceiverKind::Reference(_, _, Some(_)) => errors.at(
                receiver,
                "a service method takes `&self`, not `&mut self`: calls run at once on many \
                 threads, so keep what changes behind a `Mutex` or in atomics",
            ),
            _ => errors.at(
                receiver,
                "a service method takes `&self`: the service keeps one value, which every \
                 call borrows",
            ),
        },
        _ => errors.at(
            &sig.ident,
            "a service method takes `&self`: the service's value is what peers call",
        ),
    }
    let mut context = false;
    let mut params = Vec::new();
    for (i, input) in inputs.enumerate() {
        let FnArg::Typed(param) = input else { continue };
        if is_context(&param.ty) {
            if i == 0 {
                context = true;
            } else {
                errors.at(
                    param,
                    "the `&Context` comes first, right after `&self`: the client leaves it out",
                );
            }
            continue;
        }
        match &*param.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {}
            Pat::Tuple(pat) => {
                errors.at(
                    pat,
                    "take the tuple's parts as parameters of their own, `a: i64, b: i64`, not \
                     a pattern: several parameters travel as MessagePack-RPC's argument list, \
                     and the client's method takes each by its name",
                );
                continue;
            }
            pat => {
                errors.at(
                    pat,
                    "name this parameter (`args: Args`): the client's method takes it by that name",
                );
                continue;
            }
        }
        match &*param.ty {
            Type::Reference(reference) => errors.at(
                reference,
                "a parameter is decoded from each request, so it is owned: `String`, not \
                 `&str`; `Vec<T>`, not `&[T]` (the client's method takes it by reference)",
            ),
            Type::ImplTrait(ty) => errors.at(
                ty,
                "a parameter needs a type to be decoded as, not `impl Trait`",
            ),
            _ => {}
        }
        if let Pat::Ident(pat) = &*param.pat {
            params.push(Param {
                ident: pat.ident.clone(),
                ty: (*param.ty).clone(),
            });
        }
    }
    let (reply, span) = match &sig.output {
        ReturnType::Default => (None, sig.ident.span()),
        ReturnType::Type(_, ty) => match result_ok(ty) {
            Ok(reply) => (Some(reply), ty.span()),
            Err(message) => {
                errors.at(ty, message);
                (None, ty.span())
            }
        },
    };
    let wire = wire.unwrap_or_else(|| case.apply(&ident.unraw().to_string()));
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(Method {
            docs: function
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("doc"))
                .cloned()
                .collect(),
            ident,
            wire,
            context,
            params,
            reply,
            span,
        }),
    }
}

/// `#[netrpc(name = "..")]` on a method.
fn method_options(attr: &Attribute, wire: &mut Option<String>) -> syn::Result<()> {
    attr.parse_nested_meta(|meta| {
        if !meta.path.is_ident("name") {
            return Err(meta.error(
                "unknown #[netrpc] option: expected `name = \"..\"`, the name peers call the \
                 method by",
            ));
        }
        let lit: LitStr = meta.value()?.parse()?;
        let name = lit.value();
        if name.is_empty() || name.contains('.') {
            return Err(syn::Error::new(
                lit.span(),
                "a method's wire name is not empty and holds no `.`: peers call `Service.Method`",
            ));
        }
        *wire = Some(name);
        Ok(())
    })
}

/// Whether `ty` is `&Context` (`&netrpc::Context`, or a path to it).
fn is_context(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    let Type::Path(path) = &*reference.elem else {
        return false;
    };
    reference.mutability.is_none()
        && path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Context" && last.arguments.is_none())
}

/// The `T` of `Result<T, E>`, or why `ty` is not one the macro can use.
fn result_ok(ty: &Type) -> Result<Type, &'static str> {
    const EXPECTED: &str = "a service method returns `Result<Reply, Error>`, whose error is any \
                            `Serialize + Display` type (`String` sends its text), or nothing, for \
                            a method the client calls as a notification";
    let Type::Path(path) = ty else {
        return Err(EXPECTED);
    };
    let Some(last) = path.path.segments.last() else {
        return Err(EXPECTED);
    };
    if last.ident != "Result" {
        return Err(EXPECTED);
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return Err(EXPECTED);
    };
    let types: Vec<&Type> = arguments
        .args
        .iter()
        .filter_map(|argument| match argument {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match types[..] {
        [ok, _] => Ok(ok.clone()),
        [_] => Err(
            "write the error type out, `Result<Reply, Error>`: the macro cannot see \
                    through an alias such as `io::Result<T>` to the error it sends",
        ),
        _ => Err(EXPECTED),
    }
}

/// Two methods with one wire name, and methods named as an item the macro generates.
fn check_names(item: &ItemTrait, service: &str, methods: &[Method], errors: &mut Errors) {
    let client = format!("{}Client", item.ident.unraw());
    let mut wires: HashMap<&str, &Ident> = HashMap::new();
    for method in methods {
        if let Some(first) = wires.insert(&method.wire, &method.ident) {
            errors.at(
                &method.ident,
                format!(
                    "`{}` is the wire name of `{first}` already: give this method another with \
                     #[netrpc(name = \"..\")]",
                    method.service_method(service)
                ),
            );
        }
    }
    let rename = "rename the method (#[netrpc(name = \"..\")] keeps the name peers call)";
    for method in methods {
        let name = method.ident.unraw().to_string();
        if name == INTO_SERVICE {
            errors.at(
                &method.ident,
                format!(
                    "`{INTO_SERVICE}` is the method #[netrpc::service] adds to the trait: {rename}"
                ),
            );
        } else if CLIENT_ITEMS.contains(&name.as_str()) {
            errors.at(
                &method.ident,
                format!("`{client}::{name}` is generated already: {rename}"),
            );
        } else if let Some(calling) = methods
            .iter()
            .find(|other| other.reply.is_some() && other.go_ident().unraw() == method.ident.unraw())
        {
            errors.at(
                &method.ident,
                format!(
                    "`{client}::{name}` is the client's method that starts `{}` without \
                     waiting: {rename}",
                    calling.ident
                ),
            );
        }
    }
}
