#include "core/recorded.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace gitgate {
namespace {

TEST(ConfirmationBatch, OutsideABatchAWakeUpRunsAtOnce) {
  int woken = 0;
  ConfirmationBatch::wake([&] { ++woken; });
  EXPECT_EQ(woken, 1);
}

TEST(ConfirmationBatch, InsideABatchWakeUpsRunInOrderWhenItEnds) {
  std::vector<int> woken;
  {
    ConfirmationBatch batch;
    ConfirmationBatch::wake([&] { woken.push_back(1); });
    ConfirmationBatch::wake([&] { woken.push_back(2); });
    EXPECT_TRUE(woken.empty());
  }
  EXPECT_EQ(woken, (std::vector<int>{1, 2}));
  ConfirmationBatch::wake([&] { woken.push_back(3); });  // the batch is over: at once again
  EXPECT_EQ(woken, (std::vector<int>{1, 2, 3}));
}

TEST(ConfirmationBatch, ANestedBatchWakesWhenItEndsAndTheOuterOneStillHoldsItsOwn) {
  std::vector<int> woken;
  {
    ConfirmationBatch outer;
    ConfirmationBatch::wake([&] { woken.push_back(1); });
    {
      ConfirmationBatch inner;
      ConfirmationBatch::wake([&] { woken.push_back(2); });
    }
    EXPECT_EQ(woken, (std::vector<int>{2}));
  }
  EXPECT_EQ(woken, (std::vector<int>{2, 1}));
}

TEST(ConfirmationBatch, ABatchBelongsToItsThread) {
  int woken_elsewhere = 0;
  ConfirmationBatch batch;
  std::thread([&] { ConfirmationBatch::wake([&] { ++woken_elsewhere; }); }).join();
  EXPECT_EQ(woken_elsewhere, 1);
}

}  // namespace
}  // namespace gitgate
