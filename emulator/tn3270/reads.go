package tn3270

// This file builds inbound (terminal to host) records: Read Modified, Read
// Buffer and the query reply.

func appendAddr(out []byte, a int) []byte {
	ad := EncodeAddress(a)
	return append(out, ad[0], ad[1])
}

// appendChar appends one buffer character as it travels inbound.
func appendChar(out []byte, c *cell) []byte {
	if c.ge {
		return append(out, OrderGE, c.ch)
	}
	return append(out, c.ch)
}

// readModified builds the Read Modified (all=false) or Read Modified All
// reply for aid: the AID, the cursor address, then for each modified field
// an SBA to its first character and its characters with nulls suppressed.
// PA keys and Clear give a short read (the AID alone) unless all is set.
func (e *Engine) readModified(aid byte, all bool) []byte {
	var out []byte
	if aid == AIDSysReq {
		out = append(out, 0x01, 0x5C, 0x61, 0x02) // Test Request Read header
	} else {
		out = append(out, aid)
		if isShortReadAID(aid) && !all {
			return out
		}
		out = appendAddr(out, e.cursor)
	}
	n := e.size()
	if !e.formatted() {
		for a := 0; a < n; a++ {
			if c := &e.buf[a]; c.ch != 0 {
				out = appendChar(out, c)
			}
		}
		return out
	}
	for a := 0; a < n; a++ {
		if !e.buf[a].isFA || e.buf[a].fa&FAModified == 0 {
			continue
		}
		start := e.inc(a)
		out = append(out, OrderSBA)
		out = appendAddr(out, start)
		for b := start; !e.buf[b].isFA; b = e.inc(b) {
			if c := &e.buf[b]; c.ch != 0 {
				out = appendChar(out, c)
			}
		}
	}
	return out
}

// readBuffer builds the Read Buffer reply: the AID, the cursor address and
// every buffer position, a field attribute as SF plus its attribute byte.
func (e *Engine) readBuffer(aid byte) []byte {
	n := e.size()
	out := make([]byte, 0, 3+n+n/8)
	out = append(out, aid)
	out = appendAddr(out, e.cursor)
	for a := 0; a < n; a++ {
		c := &e.buf[a]
		if c.isFA {
			out = append(out, OrderSF, codeTable[c.fa&faMask])
			continue
		}
		out = appendChar(out, c)
	}
	return out
}

// supportedQueries lists the query replies this terminal gives, in order.
var supportedQueries = []byte{qcSummary, qcUsableArea, qcCharacterSets, qcColor, qcHighlighting, qcReplyModes, qcImplicitPartn}

// queryReply builds the AID 0x88 query reply. With every set, all
// supported replies are sent; otherwise the Summary plus those of list that
// are supported (a Query List of type List).
func (e *Engine) queryReply(list []byte, every bool) []byte {
	want := map[byte]bool{qcSummary: true}
	for _, q := range supportedQueries {
		if every {
			want[q] = true
		}
	}
	for _, q := range list {
		want[q] = true
	}
	out := []byte{AIDStructF}
	for _, q := range supportedQueries {
		if want[q] {
			out = e.appendQueryReply(out, q)
		}
	}
	return out
}

func put16(out []byte, v int) []byte { return append(out, byte(v>>8), byte(v)) }

// appendQueryReply appends one query reply structured field.
func (e *Engine) appendQueryReply(out []byte, q byte) []byte {
	start := len(out)
	out = append(out, 0, 0, sfQueryReply, q)
	m := e.model
	switch q {
	case qcSummary:
		out = append(out, supportedQueries...)
	case qcUsableArea:
		out = append(out, 0x01, 0x00) // 12/14-bit addressing; no special features
		out = put16(out, m.AltCols)
		out = put16(out, m.AltRows)
		out = append(out, 0x01)                   // units: millimetres
		out = append(out, 0x00, 0x0A, 0x02, 0xE5) // Xr = 10/741
		out = append(out, 0x00, 0x02, 0x00, 0x6F) // Yr = 2/111
		out = append(out, 0x09, 0x0C)             // cell width, height
		out = put16(out, m.AltRows*m.AltCols)     // buffer size
	case qcCharacterSets:
		out = append(out, 0x82, 0x00) // GE supported, CGCSGIDs present
		out = append(out, 0x09, 0x0C) // default cell width, height
		out = append(out, 0, 0, 0, 0) // no loadable symbol sets
		out = append(out, 0x07)       // descriptor length
		g := e.cp.CGCSGID()
		out = append(out, 0x00, 0x10, 0x00, byte(g>>24), byte(g>>16), byte(g>>8), byte(g)) // set 0, base
		out = append(out, 0x01, 0x00, 0xF1, 0x03, 0xC3, 0x01, 0x36)                        // set 1, APL (GE)
	case qcColor:
		out = append(out, 0x00, 0x10, 0x00, ColorGreen) // 16 pairs; default is green
		for c := 0xF1; c <= 0xFF; c++ {
			out = append(out, byte(c), byte(c))
		}
	case qcHighlighting:
		out = append(out, 0x05, 0x00, HighlightNormal, HighlightBlink, HighlightBlink,
			HighlightReverse, HighlightReverse, HighlightUnderscore, HighlightUnderscore,
			HighlightIntensify, HighlightIntensify)
	case qcReplyModes:
		out = append(out, 0x00, 0x01, 0x02) // field, extended field, character
	case qcImplicitPartn:
		out = append(out, 0x00, 0x00, 0x0B, 0x01, 0x00)
		out = put16(out, m.Cols)
		out = put16(out, m.Rows)
		out = put16(out, m.AltCols)
		out = put16(out, m.AltRows)
	}
	n := len(out) - start
	out[start], out[start+1] = byte(n>>8), byte(n)
	return out
}
