package exosim

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The two vectors of the shared API document, taken from the SDK's tests.
const (
	vectorKey     = "EXOxxxxxxxxxxxxxxxxxxxxxxxx"
	vectorExpires = 3376684800
)

var vectorSecret = strings.Repeat("X", 43)

func TestSignVectors(t *testing.T) {
	tests := []struct {
		name        string
		givePath    string
		giveValues  string
		wantMessage string
		wantSig     string
	}{
		{
			name:        "no query",
			givePath:    "/v2/zone",
			wantMessage: "GET /v2/zone\n\n\n\n3376684800",
			wantSig:     "Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY=",
		},
		{
			name:        "query k1 k2",
			givePath:    "/v2/zone",
			giveValues:  "v1v2",
			wantMessage: "GET /v2/zone\n\nv1v2\n\n3376684800",
			wantSig:     "iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StringToSign("GET", tt.givePath, "", tt.giveValues, vectorExpires); got != tt.wantMessage {
				t.Errorf("StringToSign = %q, want %q", got, tt.wantMessage)
			}
			if got := Sign("GET", tt.givePath, "", tt.giveValues, vectorExpires, vectorSecret); got != tt.wantSig {
				t.Errorf("Sign = %s, want %s", got, tt.wantSig)
			}
		})
	}
}

// SignRequest must produce the SDK's header for the vectors, signed-query-args
// included.
func TestSignRequestVectors(t *testing.T) {
	tests := []struct {
		giveURL string
		want    string
	}{
		{
			giveURL: "https://api-ch-gva-2.exoscale.com/v2/zone",
			want:    "EXO2-HMAC-SHA256 credential=EXOxxxxxxxxxxxxxxxxxxxxxxxx,expires=3376684800,signature=Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY=",
		},
		{
			giveURL: "https://api-ch-gva-2.exoscale.com/v2/zone?k2=v2&k1=v1",
			want:    "EXO2-HMAC-SHA256 credential=EXOxxxxxxxxxxxxxxxxxxxxxxxx,signed-query-args=k1;k2,expires=3376684800,signature=iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.giveURL, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.giveURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := SignRequest(req, Credential{Key: vectorKey, Secret: vectorSecret}, time.Unix(vectorExpires, 0)); err != nil {
				t.Fatal(err)
			}
			if got := req.Header.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization = %q\nwant            %q", got, tt.want)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	sig := "Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY="
	tests := []struct {
		name     string
		give     string
		wantArgs []string
		wantErr  bool
	}{
		{name: "sdk form", give: "EXO2-HMAC-SHA256 credential=EXOa,expires=1,signature=" + sig},
		{name: "with query args", give: "EXO2-HMAC-SHA256 credential=EXOa,signed-query-args=a;b,expires=1,signature=" + sig, wantArgs: []string{"a", "b"}},
		{name: "other order", give: "EXO2-HMAC-SHA256 signature=" + sig + ",expires=1,credential=EXOa"},
		{name: "wrong scheme", give: "EXO-HMAC-SHA256 credential=EXOa,expires=1,signature=" + sig, wantErr: true},
		{name: "no space", give: "EXO2-HMAC-SHA256credential=EXOa,expires=1,signature=" + sig, wantErr: true},
		{name: "missing signature", give: "EXO2-HMAC-SHA256 credential=EXOa,expires=1", wantErr: true},
		{name: "missing expires", give: "EXO2-HMAC-SHA256 credential=EXOa,signature=" + sig, wantErr: true},
		{name: "empty credential", give: "EXO2-HMAC-SHA256 credential=,expires=1,signature=" + sig, wantErr: true},
		{name: "repeated", give: "EXO2-HMAC-SHA256 credential=EXOa,credential=EXOb,expires=1,signature=" + sig, wantErr: true},
		{name: "unknown field", give: "EXO2-HMAC-SHA256 credential=EXOa,expires=1,signature=" + sig + ",x=y", wantErr: true},
		{name: "spaces", give: "EXO2-HMAC-SHA256 credential=EXOa, expires=1,signature=" + sig, wantErr: true},
		{name: "expires not a number", give: "EXO2-HMAC-SHA256 credential=EXOa,expires=soon,signature=" + sig, wantErr: true},
		{name: "signature not base64", give: "EXO2-HMAC-SHA256 credential=EXOa,expires=1,signature=!!", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthorization(tt.give)
			if tt.wantErr {
				if !errors.Is(err, errMalformedAuthorization) {
					t.Fatalf("err = %v, want errMalformedAuthorization", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.credential != "EXOa" || got.expires != 1 || len(got.signature) != 32 {
				t.Errorf("parsed %+v", got)
			}
			if !reflect.DeepEqual(got.signedQueryArgs, tt.wantArgs) {
				t.Errorf("signedQueryArgs = %v, want %v", got.signedQueryArgs, tt.wantArgs)
			}
		})
	}
}
