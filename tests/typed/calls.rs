//! A typed client and a typed server over MessagePack-RPC: calls that wait and calls that
//! return at once, parameters in any number, the context, notifications, timeouts and names.

use std::time::Duration;

use netrpc::{Call, Client, Error, Params, RegisterError, Server, Service};

use crate::arith::{self, Arith, ArithClient, Calculator};
use crate::common::{self, Args, Quotient, WAIT};

#[test]
fn a_typed_client_calls_a_typed_server() {
    let (addr, _) = arith::serve();
    let arith = arith::client(addr);
    assert_eq!(arith.multiply(&Args { a: 7, b: 8 }).unwrap(), 56);
    let q = arith.divide(&Args { a: 15, b: 4 }).unwrap();
    assert_eq!(q, Quotient { quo: 3, rem: 3 });
    assert_eq!(arith.add(&2, &3).unwrap(), 5);
    assert_eq!(arith.mul2(&21).unwrap(), 42);
    assert_eq!(arith.answer().unwrap(), 42);
    assert_eq!(
        arith.whoami(&"hello".to_owned()).unwrap(),
        "hello, Arith.Whoami over Some(Msgpack)"
    );
}

#[test]
fn go_calls_complete_through_their_channels() {
    let (addr, _) = arith::serve();
    let arith = arith::client(addr);
    let call: Call<Quotient> = arith.divide_go(&Args { a: 15, b: 4 });
    assert_eq!(call.service_method, "Arith.Divide");
    let sum = arith.add_go(&20, &22);
    let none = arith.answer_go();
    assert_eq!(
        call.done.recv_timeout(WAIT).unwrap().result.unwrap(),
        Quotient { quo: 3, rem: 3 }
    );
    assert_eq!(sum.wait().unwrap(), 42);
    assert_eq!(none.wait().unwrap(), 42);
}

#[test]
fn the_wire_names_are_go_s_exported_names_or_the_ones_given() {
    let (addr, _) = arith::serve();
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let product: i64 = client.call("Arith.Multiply", &Args { a: 6, b: 7 }).unwrap();
    assert_eq!(product, 42);
    let sum: i64 = client.call("Arith.Add", &Params((2, 3))).unwrap();
    assert_eq!(sum, 5);
    let twice: i64 = client.call("Arith.Mul2", &21).unwrap();
    assert_eq!(twice, 42);
    let err = client.call::<_, i64>("Arith.Double", &21).unwrap_err();
    assert_eq!(err.to_string(), "rpc: can't find method Arith.Double");
}

#[test]
fn a_method_without_a_reply_is_a_notification() {
    let (addr, lines) = arith::serve();
    let arith = arith::client(addr);
    arith.log(&"first".to_owned()).unwrap();
    arith.log(&"second".to_owned()).unwrap();
    // Each runs on the pool as it arrives, as Go runs each in a goroutine: in either order.
    let mut logged = [
        lines.recv_timeout(WAIT).unwrap(),
        lines.recv_timeout(WAIT).unwrap(),
    ];
    logged.sort();
    assert_eq!(logged, ["first", "second"]);
    // A peer that calls it rather than notifies gets nil.
    let netrpc::Ignore = arith
        .client()
        .call("Arith.Log", &"third".to_owned())
        .unwrap();
    assert_eq!(lines.recv_timeout(WAIT).unwrap(), "third");
}

#[test]
fn calls_wait_for_the_client_s_timeout_or_the_typed_client_s_own() {
    let (addr, _) = arith::serve();
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(100)))
        .dial(addr)
        .unwrap();
    let arith = ArithClient::new(client.clone());
    assert!(matches!(arith.sleep(&2_000), Err(Error::Timeout)));
    let patient = arith.clone().with_timeout(WAIT);
    assert_eq!(patient.sleep(&200).unwrap(), 200);
    let hasty =
        ArithClient::new(Client::dial(addr).unwrap()).with_timeout(Duration::from_millis(100));
    assert!(matches!(hasty.sleep(&2_000), Err(Error::Timeout)));
    assert!(matches!(hasty.sleep_go(&2_000).wait(), Err(Error::Timeout)));
    // The wrapped client is the one given.
    assert_eq!(format!("{:?}", arith.into_client()), format!("{client:?}"));
}

/// Another type that implements `Arith`.
struct Other;

impl Arith for Other {
    fn multiply(&self, _: Args) -> Result<i64, String> {
        Err("other".into())
    }
    fn divide(&self, _: Args) -> Result<Quotient, arith::DivideError> {
        Err(arith::DivideError::ByZero)
    }
    fn add(&self, _: i64, _: i64) -> Result<i64, String> {
        Err("other".into())
    }
    fn mul2(&self, _: i64) -> Result<i64, String> {
        Err("other".into())
    }
    fn answer(&self) -> Result<i64, String> {
        Ok(0)
    }
    fn whoami(&self, _: &netrpc::Context, _: String) -> Result<String, String> {
        Ok("other".into())
    }
    fn sleep(&self, ms: u64) -> Result<u64, String> {
        Ok(ms)
    }
    fn log(&self, _: String) {}
}

#[test]
fn a_service_is_named_after_its_trait_whatever_implements_it() {
    let (calculator, _) = Calculator::new();
    assert_eq!(calculator.into_service().name(), "Arith");
    assert_eq!(Other.into_service().name(), "Arith");
    let server = Server::new();
    server.register(Other.into_service()).unwrap();
    let (calculator, _) = Calculator::new();
    assert_eq!(
        server.register(calculator.into_service()),
        Err(RegisterError::Duplicate("Arith".to_owned()))
    );
    // register_name still names it otherwise; a Service of the string API can be named too.
    let (calculator, _) = Calculator::new();
    server
        .register_name("Calc", calculator.into_service())
        .unwrap();
    server
        .register(
            Service::new(Other)
                .named("Renamed")
                .method("Answer", |o: &Other, (): ()| o.answer()),
        )
        .unwrap();
    let addr = common::serve(&server);
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let p: i64 = client.call("Calc.Multiply", &Args { a: 6, b: 7 }).unwrap();
    assert_eq!(p, 42);
    let zero: i64 = client.call("Renamed.Answer", &()).unwrap();
    assert_eq!(zero, 0);
}

/// A service named otherwise, whose methods are named as JavaScript names them.
#[netrpc::service(name = "Js", rename_all = "camelCase")]
trait Script {
    fn get_value(&self, key: String) -> Result<String, String>;
    #[netrpc(name = "raw_name")]
    fn set_value(&self, key: String, value: String) -> Result<(), String>;
    /// Parameters named as the macro's own variables are theirs.
    fn wait(&self, timeout: u64, this: u64, ctx: u64) -> Result<u64, String>;
}

struct Store;

impl Script for Store {
    fn get_value(&self, key: String) -> Result<String, String> {
        Ok(format!("value of {key}"))
    }
    fn set_value(&self, _: String, _: String) -> Result<(), String> {
        Ok(())
    }
    fn wait(&self, timeout: u64, this: u64, ctx: u64) -> Result<u64, String> {
        Ok(timeout * 100 + this * 10 + ctx)
    }
}

#[test]
fn a_service_may_be_named_and_its_methods_renamed() {
    let server = Server::new();
    server.register(Store.into_service()).unwrap();
    let addr = common::serve(&server);
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let value: String = client.call("Js.getValue", &"k").unwrap();
    assert_eq!(value, "value of k");
    let netrpc::Ignore = client.call("Js.raw_name", &Params(("k", "v"))).unwrap();
    let script = ScriptClient::new(client);
    assert_eq!(script.get_value(&"j".to_owned()).unwrap(), "value of j");
    script.set_value(&"k".to_owned(), &"v".to_owned()).unwrap();
    assert_eq!(script.wait(&1, &2, &3).unwrap(), 123);
    let script = script.with_timeout(WAIT);
    assert_eq!(script.wait(&1, &2, &3).unwrap(), 123);
    assert_eq!(script.wait_go(&4, &5, &6).wait().unwrap(), 456);
}
