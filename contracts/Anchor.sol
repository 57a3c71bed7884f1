// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Passport log anchors
/// @notice Each sender (a node's Ethereum account) records, per log, the latest tree head it
///         vouches for: (log id, tree size, root).  Sizes only grow, so a sender can never
///         move its own anchor back to a shorter history.  Every anchor is also an event, so
///         older anchors stay readable from the chain's logs after a newer one replaces them.
/// @dev    Gas: one call writes two storage slots (size, root) and one event.  The number of
///         records under the root does not change what is written, so its cost is constant.
contract Anchor {
    struct Head {
        uint64 size;
        bytes32 root;
    }

    /// @notice sender => log id => latest anchored head
    mapping(address => mapping(bytes32 => Head)) private heads;

    /// @notice Emitted for every anchor; indexed by sender and log id for cheap filtering.
    event Anchored(address indexed sender, bytes32 indexed logId, uint64 size, bytes32 root);

    /// @notice The new size is not larger than the one this sender already anchored.
    error SizeNotGreater(uint64 anchored, uint64 offered);

    /// @notice Record (size, root) as the latest head of log `logId` for `msg.sender`.
    function anchor(bytes32 logId, uint64 size, bytes32 root) external {
        Head storage head = heads[msg.sender][logId];
        if (size <= head.size) revert SizeNotGreater(head.size, size);
        head.size = size;
        head.root = root;
        emit Anchored(msg.sender, logId, size, root);
    }

    /// @notice The latest head `sender` anchored for `logId`; size 0 when none.
    function latest(address sender, bytes32 logId) external view returns (uint64 size, bytes32 root) {
        Head storage head = heads[sender][logId];
        return (head.size, head.root);
    }
}
