//! The client side: `<Trait>Client`, a `netrpc::Client` whose methods are the trait's, each
//! one `Client::call` (or `go`, or `notify`) with the method's wire name written in.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::Ident;

use crate::parse::{Method, Service};

/// The client struct and its methods.
pub(crate) fn client(service: &Service) -> TokenStream {
    let vis = &service.item.vis;
    let trait_ident = &service.item.ident;
    let client = format_ident!("{}Client", trait_ident.unraw(), span = trait_ident.span());
    let doc = client_doc(service);
    let methods = service
        .methods
        .iter()
        .map(|method| method_calls(service, method));
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        // Which of the generated methods a program calls is its own business.
        #[allow(dead_code)]
        #vis struct #client {
            client: ::netrpc::Client,
            timeout: ::core::option::Option<::std::time::Duration>,
        }

        #[allow(dead_code)]
        impl #client {
            /// Calls the service through `client`; each call waits for its reply as long as
            /// `client`'s own timeout allows (`netrpc::ClientBuilder::timeout`).
            #vis fn new(client: ::netrpc::Client) -> Self {
                Self {
                    client,
                    timeout: ::core::option::Option::None,
                }
            }

            /// Bounds each call's wait for its reply by `timeout`, in place of the client's
            /// own; a call past it fails with `netrpc::Error::Timeout`.
            #vis fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.timeout = ::core::option::Option::Some(timeout);
                self
            }

            /// The `netrpc::Client` underneath, for calls outside the trait.
            #vis fn client(&self) -> &::netrpc::Client {
                &self.client
            }

            /// The `netrpc::Client` underneath, unwrapped.
            #vis fn into_client(self) -> ::netrpc::Client {
                self.client
            }

            #(#methods)*
        }
    }
}

/// `m` and `m_go` for a method `m`, or `m` alone, a notification, for one without a reply.
fn method_calls(service: &Service, method: &Method) -> TokenStream {
    let vis = &service.item.vis;
    let ident = &method.ident;
    let docs = &method.docs;
    let service_method = method.service_method(&service.name);
    let names: Vec<_> = method.params.iter().map(|p| &p.ident).collect();
    let types = method.params.iter().map(|p| &p.ty);
    let params = quote!(#(#names: &#types),*);
    // What `Client::call` sends: one parameter as itself (`[args]` on the wire), any other
    // number as MessagePack-RPC's argument list, which Go's wires refuse before sending.
    let args = match &names[..] {
        [one] => quote!(#one),
        _ => quote!(&::netrpc::Params((#(#names,)*))),
    };
    let separator = (!docs.is_empty()).then(|| quote!(#[doc = ""]));
    let Some(reply) = &method.reply else {
        let doc = format!(
            " Sends `{service_method}` as a notification: the peer runs it and answers \
             nothing (MessagePack-RPC only: Go's wires refuse it)."
        );
        return quote! {
            #(#docs)*
            #separator
            #[doc = #doc]
            #vis fn #ident(&self, #params) -> ::core::result::Result<(), ::netrpc::Error> {
                self.client.notify(#service_method, #args)
            }
        };
    };
    let go = method.go_ident();
    // The macro's own binding, which no parameter of the user's (`timeout`, say) can shadow.
    let timeout = Ident::new("timeout", Span::mixed_site());
    let call_doc = format!(" Calls `{service_method}` and waits for its reply.");
    let go_doc = format!(
        " Starts `{service_method}` and returns at once; the call completes through \
         `Call::done` (Go's `client.Go`). See [`Self::{}`].",
        ident.unraw()
    );
    quote! {
        #(#docs)*
        #separator
        #[doc = #call_doc]
        #vis fn #ident(&self, #params) -> ::core::result::Result<#reply, ::netrpc::Error> {
            match self.timeout {
                ::core::option::Option::Some(#timeout) => {
                    self.client.call_timeout(#service_method, #args, #timeout)
                }
                ::core::option::Option::None => self.client.call(#service_method, #args),
            }
        }

        #[doc = #go_doc]
        #vis fn #go(&self, #params) -> ::netrpc::Call<#reply> {
            match self.timeout {
                ::core::option::Option::Some(#timeout) => {
                    self.client.go_timeout(#service_method, #args, #timeout)
                }
                ::core::option::Option::None => self.client.go(#service_method, #args),
            }
        }
    }
}

fn client_doc(service: &Service) -> String {
    let trait_ident = service.item.ident.unraw();
    let called = if service.name.is_empty() {
        "the method of its name".to_owned()
    } else {
        format!("`{}.<Method>`", service.name)
    };
    format!(
        " A blocking client of the service [`{trait_ident}`], over the `netrpc::Client` it \
         wraps: each method calls {called} and waits for the reply, and its `_go` twin starts \
         the call and returns at once. Clones share the connection.\n\n Generated by \
         `#[netrpc::service]`."
    )
}
