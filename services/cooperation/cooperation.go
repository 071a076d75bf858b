// Package cooperation is the vocabulary of cooperation requests that more
// than one service speaks: what a request asks for and how fast. The
// request service keeps requests of these types and priorities; the
// directory routes them by both. It imports nothing of Comity.
package cooperation

// RequestType is the kind of cooperation a request asks for. Values are the
// proto enum value names.
type RequestType string

// The request types of DESIGN §5.
const (
	DataPreservation      RequestType = "DATA_PRESERVATION"
	SubscriberInformation RequestType = "SUBSCRIBER_INFORMATION"
	TrafficData           RequestType = "TRAFFIC_DATA"
	ContentData           RequestType = "CONTENT_DATA"
	OtherAssistance       RequestType = "OTHER_ASSISTANCE"
)

// RequestTypes lists every request type.
var RequestTypes = []RequestType{DataPreservation, SubscriberInformation, TrafficData, ContentData, OtherAssistance}

// Priority is how fast a request must be handled. Values are the proto enum
// value names.
type Priority string

// The priorities of DESIGN §5.
const (
	Routine   Priority = "ROUTINE"
	Urgent    Priority = "URGENT"
	Emergency Priority = "EMERGENCY"
)

// Priorities lists every priority, from the slowest to the fastest.
var Priorities = []Priority{Routine, Urgent, Emergency}
