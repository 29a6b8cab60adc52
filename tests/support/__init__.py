"""What the tests share: fakes, peers, servers, trees. Test modules import from here, never from each other."""
