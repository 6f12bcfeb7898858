// Package metering is the client side of termgate's metering (see
// docs/protocol.md): a Sender that sends a heartbeat every interval, over
// DTLS, to a
// management node's metering listener, carrying the signed ticket that came
// with the session launch.
//
//	snd, err := metering.New(metering.Config{
//		Addresses:  launch.Metering.Addresses, // every node; launch.Metering.Address first
//		Interval:   launch.Metering.Interval,
//		Ticket:     launch.Metering.Ticket,
//		TrustStore: launch.Metering.TrustStore, // PEM
//		OnStatus:   func(st metering.Status) { log.Printf("metering: %+v", st) },
//	})
//	if err != nil { ... }
//	snd.Start(ctx)
//	defer snd.Stop()
//
// Metering never blocks or ends the user's session: when no node answers,
// heartbeats are kept (up to Config.MaxPending, oldest dropped first) and
// sent again, in order, once a node answers; OnStatus and Status report the
// gap. Any node of the group takes any heartbeat (the nodes merge their
// records), so a failing node only makes the sender move to the next
// address.
//
// # Security model
//
// The node is authenticated by DTLS 1.2 (github.com/pion/dtls/v3, extended
// master secret required) against the PEM trust store shipped at launch and
// the host of the address dialled. The ticket is a JWT signed by a
// management node (it names the user, the session and the launch); the
// sequence number makes a replayed heartbeat useless. The ticket is never
// logged.
//
// Wire format: one DTLS record each way, JSON.
//
//	client → node  {"ticket":"<jwt>","seq":1,"ts":1735689600000}
//	node → client  {"seq":1,"ok":true}  or  {"seq":1,"ok":false,"error":"ticket"}
//
// It follows RFC 6347 (DTLS 1.2) with the cookie exchange of section
// 4.2.1 and RFC 7627 (extended master secret).
package metering
