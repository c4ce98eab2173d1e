//! `#[bed::test]`: the integration tests' `#[tokio::test]` (its arguments pass through), which
//! first asks the test bed whether this run's store backend is there. The suite is built twice
//! (`tests/api` on SQLite, `tests/api_postgres` on PostgreSQL); without a PostgreSQL server the
//! second says so in one line per test and passes, instead of failing or hiding it.
use proc_macro::TokenStream;
use quote::quote;

#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let mut test = syn::parse_macro_input!(item as syn::ItemFn);
    let name = test.sig.ident.to_string();
    let body = &test.block;
    test.block = syn::parse_quote!({
        if crate::support::store::skipped(#name) {
            return;
        }
        #body
    });
    quote!(#[::tokio::test(#args)] #test).into()
}
