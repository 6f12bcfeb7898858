package tn3270

import "fmt"

// TN3270E (RFC 2355) subnegotiation vocabulary.
const (
	EAssociate  byte = 0
	EConnect    byte = 1
	EDeviceType byte = 2
	EFunctions  byte = 3
	EIs         byte = 4
	EReason     byte = 5
	EReject     byte = 6
	ERequest    byte = 7
	ESend       byte = 8

	FuncBindImage     byte = 0
	FuncDataStreamCtl byte = 1
	FuncResponses     byte = 2
	FuncSCSCtlCodes   byte = 3
	FuncSysReq        byte = 4
)

// TN3270E data types.
const (
	Data3270    byte = 0x00
	DataSCS     byte = 0x01
	DataResp    byte = 0x02
	DataBind    byte = 0x03
	DataUnbind  byte = 0x04
	DataNVT     byte = 0x05
	DataRequest byte = 0x06
	DataSSCPLU  byte = 0x07
	DataEOJ     byte = 0x08
)

// TN3270E response flags. For 3270-DATA they say whether the host wants a
// response; for RESPONSE records they say which kind it is.
const (
	RespNone     byte = 0x00 // 3270-DATA: no response wanted
	RespError    byte = 0x01 // 3270-DATA: respond only on error
	RespAlways   byte = 0x02 // 3270-DATA: always respond
	RespPositive byte = 0x00 // RESPONSE: positive
	RespNegative byte = 0x01 // RESPONSE: negative

	RespDeviceEnd      byte = 0x00 // positive response data
	RespCommandReject  byte = 0x00 // negative response data
	RespOperationCheck byte = 0x02 // negative response data
)

// HeaderLen is the size of a TN3270E header.
const HeaderLen = 5

// Header is the 5-byte TN3270E message header (RFC 2355 section 8).
type Header struct {
	DataType     byte
	RequestFlag  byte
	ResponseFlag byte
	Seq          uint16
}

// ParseHeader splits a TN3270E record into its header and data.
func ParseHeader(rec []byte) (Header, []byte, error) {
	if len(rec) < HeaderLen {
		return Header{}, nil, fmt.Errorf("%w: %d bytes", ErrShortHeader, len(rec))
	}
	h := Header{DataType: rec[0], RequestFlag: rec[1], ResponseFlag: rec[2], Seq: uint16(rec[3])<<8 | uint16(rec[4])}
	return h, rec[HeaderLen:], nil
}

// Append appends the header's five bytes to dst.
func (h Header) Append(dst []byte) []byte {
	return append(dst, h.DataType, h.RequestFlag, h.ResponseFlag, byte(h.Seq>>8), byte(h.Seq))
}

// String names the data type, for logs.
func (h Header) String() string {
	names := [...]string{"3270-DATA", "SCS-DATA", "RESPONSE", "BIND-IMAGE", "UNBIND", "NVT-DATA", "REQUEST", "SSCP-LU-DATA", "PRINT-EOJ"}
	t := fmt.Sprintf("0x%02X", h.DataType)
	if int(h.DataType) < len(names) {
		t = names[h.DataType]
	}
	return fmt.Sprintf("%s req=%d resp=%d seq=%d", t, h.RequestFlag, h.ResponseFlag, h.Seq)
}
