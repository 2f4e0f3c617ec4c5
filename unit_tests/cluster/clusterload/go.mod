module actorstate.dev/clusterload

// The only dependency is Porcupine, the linearizability checker; everything else is the standard library.
go 1.22

require github.com/anishathalye/porcupine v1.3.1
