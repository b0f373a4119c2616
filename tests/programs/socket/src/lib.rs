//! A renderer that tries the network through WASI sockets (`with: {use: tcp
//! | udp | dns}`) and fails with what the host answered.

use capstan_plugin::{Context, Error, Rendered, Renderer};
use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket, udp_create_socket};

struct Socket;

impl Renderer for Socket {
    type Params = serde_json::Value;

    fn render(_: &Context, params: Self::Params) -> Result<Rendered, Error> {
        let network = instance_network::instance_network();
        let outcome = match params["use"].as_str().unwrap_or("tcp") {
            "tcp" => tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4).and_then(|socket| {
                let address = IpSocketAddress::Ipv4(Ipv4SocketAddress { port: 80, address: (127, 0, 0, 1) });
                socket.start_connect(&network, address)
            }),
            "udp" => udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4).map(drop),
            "dns" => ip_name_lookup::resolve_addresses(&network, "localhost").map(drop),
            other => return Err(Error::InvalidConfig(format!("unknown use {other:?}"))),
        };
        match outcome {
            Ok(()) => Err(Error::Failed("the network was reachable".into())),
            Err(code) => Err(Error::Failed(format!("denied: {}", code.name()))),
        }
    }
}

capstan_plugin::export_renderer!(Socket);
