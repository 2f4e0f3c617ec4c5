module actorstate/samples/polyglot/go

go 1.24

require (
	github.com/cloudstateio/go-support v0.3.0
	github.com/golang/protobuf v1.5.4
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.0.0-20200324143707-d3edc9973b7e // indirect
	golang.org/x/sys v0.0.0-20200413165638-669c56c373c4 // indirect
	golang.org/x/text v0.3.2 // indirect
	google.golang.org/grpc v1.33.1 // indirect
)

tool google.golang.org/protobuf/cmd/protoc-gen-go
