//! `#[sql_bounds(DB)]`: adds to an `impl` block or a function the bounds the one SQL store
//! (`rolecall-store-sql`) needs of the database `DB` (a type, e.g. `D::Db`): that a connection
//! executes queries, that arguments bind, that `&str`, `String`, `i64` and `bool` encode and
//! decode, and that rows are indexed by position.
//!
//! Rust does not imply a trait's where-clauses on other types (rust-lang/rust#20671), so every
//! generic impl over a dialect would otherwise repeat these lines; here they are written once.

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Item, Token, Type, WhereClause, WherePredicate, parse_macro_input};

#[proc_macro_attribute]
pub fn sql_bounds(attr: TokenStream, item: TokenStream) -> TokenStream {
    let db = parse_macro_input!(attr as Type);
    let mut item = parse_macro_input!(item as Item);
    let bounds = quote! {
        for<'c> &'c mut <#db as ::sqlx::Database>::Connection: ::sqlx::Executor<'c, Database = #db>,
        for<'q> <#db as ::sqlx::Database>::Arguments<'q>: ::sqlx::IntoArguments<'q, #db>,
        for<'q> &'q str: ::sqlx::Encode<'q, #db> + ::sqlx::Type<#db>,
        for<'q> String: ::sqlx::Encode<'q, #db> + ::sqlx::Decode<'q, #db> + ::sqlx::Type<#db>,
        for<'q> i64: ::sqlx::Encode<'q, #db> + ::sqlx::Decode<'q, #db> + ::sqlx::Type<#db>,
        for<'q> bool: ::sqlx::Encode<'q, #db> + ::sqlx::Decode<'q, #db> + ::sqlx::Type<#db>,
        usize: ::sqlx::ColumnIndex<<#db as ::sqlx::Database>::Row>,
    };
    let predicates = match Punctuated::<WherePredicate, Token![,]>::parse_terminated.parse2(bounds)
    {
        Ok(p) => p,
        Err(e) => return e.to_compile_error().into(),
    };
    let generics = match &mut item {
        Item::Impl(i) => &mut i.generics,
        Item::Fn(f) => &mut f.sig.generics,
        other => {
            return syn::Error::new_spanned(other, "#[sql_bounds] goes on an impl or a fn")
                .to_compile_error()
                .into();
        }
    };
    let clause = generics.where_clause.get_or_insert_with(|| WhereClause {
        where_token: Default::default(),
        predicates: Punctuated::new(),
    });
    clause.predicates.extend(predicates);
    quote!(#item).into()
}
