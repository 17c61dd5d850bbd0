// A small TURN server built on pion/turn v2, used by the end-to-end tests as
// a second, independent TURN implementation next to coturn.
//
// It prints "READY <udp-port> <tcp-port>" on stdout once it listens.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1", "IP address to listen on (UDP and TCP)")
	port := flag.Int("port", 0, "port to listen on (0: any free port, UDP and TCP may then differ)")
	relay := flag.String("relay", "", "relayed IP address announced to clients (default: the listen address)")
	minPort := flag.Int("min-port", 0, "lowest relay port (0: any)")
	maxPort := flag.Int("max-port", 0, "highest relay port (0: any)")
	realm := flag.String("realm", "pion.test", "realm")
	users := flag.String("users", "", "long-term users, comma separated user=password pairs")
	deny := flag.String("deny-peers", "", "comma separated CIDRs toward which permissions are refused (pion answers such a CreatePermission with an error response)")
	verbose := flag.Bool("verbose", false, "log at debug level on stderr")
	flag.Parse()

	keys := map[string][]byte{}
	for _, kv := range strings.Split(*users, ",") {
		if kv == "" {
			continue
		}
		i := strings.IndexByte(kv, '=')
		if i <= 0 {
			log.Fatalf("bad -users entry %q (want user=password)", kv)
		}
		keys[kv[:i]] = turn.GenerateAuthKey(kv[:i], *realm, kv[i+1:])
	}
	relayIP := *relay
	if relayIP == "" {
		relayIP = *listen
	}
	var denied []*net.IPNet
	for _, c := range strings.Split(*deny, ",") {
		if c == "" {
			continue
		}
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			log.Fatalf("bad -deny-peers entry %q: %v", c, err)
		}
		denied = append(denied, n)
	}
	permit := func(client net.Addr, peer net.IP) bool {
		for _, n := range denied {
			if n.Contains(peer) {
				return false
			}
		}
		return true
	}
	gen := func() turn.RelayAddressGenerator {
		if *minPort > 0 && *maxPort >= *minPort {
			return &turn.RelayAddressGeneratorPortRange{
				RelayAddress: net.ParseIP(relayIP),
				Address:      *listen,
				MinPort:      uint16(*minPort),
				MaxPort:      uint16(*maxPort),
			}
		}
		return &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP(relayIP), Address: *listen}
	}

	host := net.JoinHostPort(*listen, strconv.Itoa(*port))
	udp, err := net.ListenPacket("udp", host)
	if err != nil {
		log.Fatalf("udp listen %s: %v", host, err)
	}
	tcpHost := net.JoinHostPort(*listen, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
	tcp, err := net.Listen("tcp", tcpHost)
	if err != nil {
		// The UDP port's twin is taken: any TCP port will do.
		tcp, err = net.Listen("tcp", net.JoinHostPort(*listen, "0"))
		if err != nil {
			log.Fatalf("tcp listen: %v", err)
		}
	}

	lf := logging.NewDefaultLoggerFactory()
	if *verbose {
		lf.DefaultLogLevel = logging.LogLevelDebug
	}
	s, err := turn.NewServer(turn.ServerConfig{
		Realm:         *realm,
		LoggerFactory: lf,
		AuthHandler: func(username, realm string, src net.Addr) ([]byte, bool) {
			k, ok := keys[username]
			return k, ok
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen(), PermissionHandler: permit}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: tcp, RelayAddressGenerator: gen(), PermissionHandler: permit}},
	})
	if err != nil {
		log.Fatalf("server: %v", err)
	}
	fmt.Printf("READY %d %d\n", udp.LocalAddr().(*net.UDPAddr).Port, tcp.Addr().(*net.TCPAddr).Port)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	_ = s.Close()
}
